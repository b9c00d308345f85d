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
local fields, gone = {}, {}
if mode == 'node' then
  local prefix = ARGV[3] .. '|'
  local all = redis.call('HGETALL', K.presence)
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, #prefix) == prefix then
      table.insert(fields, all[i])
      table.insert(gone, all[i + 1])
    end
  end
else
  for i = 3, #ARGV do
    local v = redis.call('HGET', K.presence, ARGV[i])
    if v then
      table.insert(fields, ARGV[i])
      table.insert(gone, v)
    end
  end
end
if #fields == 0 then return { 0, 0 } end
redis.call('HDEL', K.presence, unpack(fields))
local leaves = presenceDiffPart(gone)
local seq = emit(cjson.encode({ k = 'presence', joins = {}, leaves = leaves }), origin)
return { #fields, seq }
