--[[
  Records until when this node vouches that users have a live connection to the event, for the
  abandoned-hold rule (a hold whose user has no live connection for the grace period is released).
  Each node writes its own entry in the user's field of `live` (JSON node → until ms), so several
  tabs on several nodes count as one live user, and a node that dies stops vouching once its last
  window runs out. Entries older than the grace are dropped here and by seatLib's housekeeping.

  Input:
    KEYS the event's keys, in the order of SEAT_SCRIPT_KEYS (libs/redis/src/keys.ts; seatLib's K)
    ARGV[1] node id
    ARGV[2] 'live' (vouch for ARGV[3] ms from now) | 'gone' (the user's last socket here closed)
    ARGV[3] window ms
    ARGV[4..] user ids

  Output: for 'gone', {hasHold(1|0), graceMs}; for 'live', {count}
]]
--- @include "seatLib"

local node, mode, window = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = nowMs()
local until_ = now + window
if mode == 'gone' then until_ = now end
local grace = setting('grace', 30000)
for i = 4, #ARGV do
  local raw = redis.call('HGET', K.live, ARGV[i])
  local vouches = raw and cjson.decode(raw) or {}
  for n, v in pairs(vouches) do
    if v + grace <= now then vouches[n] = nil end
  end
  vouches[node] = until_
  redis.call('HSET', K.live, ARGV[i], cjson.encode(vouches))
end
if mode == 'gone' then
  return { getHold(ARGV[4]) and 1 or 0, grace }
end
return { #ARGV - 3 }
