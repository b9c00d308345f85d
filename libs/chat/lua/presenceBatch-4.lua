--[[
  Applies one tick's presence changes of one node in one room (joins and leaves are grouped per
  tick, so a join storm costs a script per node per tick, not per member) and tells the
  room ONE sequenced `presence_diff` carrying them all. It returns nothing of the room's presence:
  each node keeps the room's presence itself, from a snapshot and the diffs that follow it.
  Adding an entry that is already there, or removing one that is gone, announces nothing, so a
  rewrite after a pause and a reaper racing a clean leave never announce anything twice.

  Input:
    KEYS the room's keys (chatLib's K)
    ARGV[1] origin tag, or ''
    ARGV[2] number of entries to add, A
    ARGV[3 .. 2+2A] field, entry JSON (`{"user_id", "phx_ref", "online_at"}`) pairs to add
    ARGV[3+2A ..] fields to remove

  Output:
    {seq, epoch, added, removed}: seq 0 when nothing changed
]]
--- @include "chatLib"

local origin = ARGV[1]
local nAdd = tonumber(ARGV[2])
local joined = {}
for i = 0, nAdd - 1 do
  local field, entry = ARGV[3 + 2 * i], ARGV[4 + 2 * i]
  if redis.call('HSET', K.presence, field, entry) == 1 then table.insert(joined, entry) end
end
local gone = removeEntries(3 + 2 * nAdd)
if #joined == 0 and #gone == 0 then return { 0, '', 0, 0 } end
local seq, ep = emit(cjson.encode({ k = 'presence', joins = presenceDiffPart(joined), leaves = presenceDiffPart(gone) }), origin)
return { seq, ep, #joined, #gone }
