--[[
  Releases a hold when its deadline has passed (`expired`), or when its user has had no live
  connection for the event's grace period (`abandoned`, the check scheduled when a user's last
  socket closes). Safe to run late, early or twice: it re-checks the condition itself and does
  nothing when it no longer holds.
  An admin's release (`admin`, the ops console) releases the hold whatever its deadline, with
  `why: "released_by_admin"`, so its owner hears `deleted` like an expiry. No re-lock cool-down:
  that guards against a buyer's own script, not against the box office.

  Input:
    KEYS[1] meta hash of the event
    ARGV[1] key base of the event
    ARGV[2] user id
    ARGV[3] 'expired' | 'abandoned' | 'admin'

  Output:
    {released seats count, reason}; {0, 'none'} when the hold is gone or still valid
    admin: {released seats count, 'released_by_admin', seat1, seat2, ...} (the seats, for the audit
      trail); {0, 'none'} when the user has no hold (a dead one not yet swept is released too)
]]
--- @include "seatLib"

local user, mode = ARGV[2], ARGV[3]
local now = nowMs()
local h = redis.call('HMGET', holdKey(user), 'dl', 'created')
if not h[1] then return { 0, 'none' } end
if mode == 'admin' then
  local seats = redis.call('SMEMBERS', holdSeatsKey(user))
  table.sort(seats)
  local out = { releaseHold(user, 'released_by_admin', ''), 'released_by_admin' }
  for i = 1, #seats do out[#out + 1] = seats[i] end
  return out
end
if tonumber(h[1]) <= now then
  return { releaseHold(user, 'expired', ''), 'expired' }
end
if mode == 'abandoned' and isAbandoned(user, h[2], now) then
  return { releaseHold(user, 'abandoned', ''), 'abandoned' }
end
return { 0, 'none' }
