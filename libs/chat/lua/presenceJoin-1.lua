--[[
  Tracks one connection in a room's presence and tells the room (a sequenced `presence_diff`).

  Input:
    KEYS[1] the room's presence hash (routes the call)
    ARGV[1] key base of the room
    ARGV[2] field `<nodeId>|<phx_ref>` (one per joined connection)
    ARGV[3] the entry as JSON: `{"user_id", "phx_ref", "online_at"}`
    ARGV[4] origin tag of the joining connection

  Output:
    {seq, epoch, entries...}: every entry of the room right after this join (JSON text each), so
    `presence_state` and the diffs that follow it (seq > this one) fit together exactly.
]]
--- @include "chatLib"

local field, entry, origin = ARGV[2], ARGV[3], ARGV[4]
local seq, ep
if redis.call('HSET', K.presence, field, entry) == 1 then
  local joins = presenceDiffPart({ entry })
  seq, ep = emit(cjson.encode({ k = 'presence', joins = joins, leaves = {} }), origin)
else
  seq = tonumber(redis.call('HGET', K.seq, 'n') or '0')
  ep = redis.call('HGET', K.seq, 'ep') or ''
end
local out = { seq, ep }
for _, v in ipairs(redis.call('HVALS', K.presence)) do table.insert(out, v) end
return out
