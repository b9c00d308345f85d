--[[
  Releases a hold when its deadline has passed (`expired`), or when its user has had no live
  connection for the event's grace period (`abandoned`, the check scheduled when a user's last
  socket closes). Safe to run late, early or twice: it re-checks the condition itself and does
  nothing when it no longer holds.

  Input:
    KEYS[1] meta hash of the event
    ARGV[1] key base of the event
    ARGV[2] user id
    ARGV[3] 'expired' | 'abandoned'

  Output:
    {released seats count, reason}; {0, 'none'} when the hold is gone or still valid
]]
--- @include "seatLib"

local user, mode = ARGV[2], ARGV[3]
local now = nowMs()
local h = redis.call('HMGET', holdKey(user), 'dl', 'created')
if not h[1] then return { 0, 'none' } end
if tonumber(h[1]) <= now then
  return { releaseHold(user, 'expired', ''), 'expired' }
end
if mode == 'abandoned' and isAbandoned(user, h[2], now) then
  return { releaseHold(user, 'abandoned', ''), 'abandoned' }
end
return { 0, 'none' }
