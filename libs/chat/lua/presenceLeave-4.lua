--[[
  Removes presence entries of a room and tells the room who left (one sequenced `presence_diff`).
  Removing an entry that is already gone does nothing, so a clean leave and a reaper racing for
  the same entry never announce a leave twice.

  Input:
    KEYS the room's keys (chatLib's K)
    ARGV[1] origin tag, or ''
    ARGV[2] mode: 'fields' (ARGV[3..] are fields to remove) or 'node' (ARGV[3] is a node id:
            remove every entry of that node, because it died)

  Output:
    {removed, seq} (seq 0 when nothing was removed)
]]
--- @include "chatLib"

local origin, mode = ARGV[1], ARGV[2]
local gone = {}
if mode == 'node' then
  local prefix = ARGV[3] .. '|'
  local fields = {}
  local all = redis.call('HGETALL', K.presence)
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, #prefix) == prefix then
      fields[#fields + 1] = all[i]
      gone[#gone + 1] = all[i + 1]
    end
  end
  if #fields > 0 then redis.call('HDEL', K.presence, unpack(fields)) end
else
  gone = removeEntries(3)
end
if #gone == 0 then return { 0, 0 } end
local seq = emit(cjson.encode({ k = 'presence', joins = {}, leaves = presenceDiffPart(gone) }), origin)
return { #gone, seq }
