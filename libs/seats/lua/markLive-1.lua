--[[
  Records until when this node vouches that users have a live connection to the event, for the
  abandoned-hold rule (a hold whose user has no live connection for the grace period is released).
  Each node writes its own field in each user's `live:<user>` hash, so several tabs on several nodes
  count as one live user, and a node that dies stops vouching once its last window runs out.

  Input:
    KEYS[1] meta hash of the event
    ARGV[1] key base of the event
    ARGV[2] node id
    ARGV[3] 'live' (vouch for ARGV[4] ms from now) | 'gone' (the user's last socket here closed)
    ARGV[4] window ms
    ARGV[5..] user ids

  Output: for 'gone', {hasHold(1|0), graceMs}; for 'live', {count}
]]
--- @include "seatLib"

local node, mode, window = ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = nowMs()
local until_ = now + window
if mode == 'gone' then until_ = now end
for i = 5, #ARGV do
  local key = liveKey(ARGV[i])
  redis.call('HSET', key, node, until_)
  redis.call('PEXPIRE', key, window * 4 + setting('grace', 30000))
end
if mode == 'gone' then
  return { redis.call('EXISTS', holdKey(ARGV[5])), setting('grace', 30000) }
end
return { #ARGV - 4 }
