--[[
  Releases a hold when its deadline has passed (`expired`), or when its user has had no live
  connection for the event's grace period (`abandoned`, the check scheduled when a user's last
  socket closes). Safe to run late, early or twice: it re-checks the condition itself and does
  nothing when it no longer holds.
  An admin's release (`admin`, the ops console) releases the hold whatever its deadline, with
  `why: "released_by_admin"`, so its owner hears `deleted` like an expiry. No re-lock cool-down:
  that guards against a buyer's own script, not against the box office.

  Input:
    KEYS the event's keys, in the order of SEAT_SCRIPT_KEYS (libs/redis/src/keys.ts; seatLib's K)
    ARGV[1] user id
    ARGV[2] 'expired' | 'abandoned' | 'admin'

  Output:
    {released seats count, reason}; {0, 'none'} when the hold is gone or still valid
    admin: {released seats count, 'released_by_admin', seat1, seat2, ...} (the seats, for the audit
      trail); {0, 'none'} when the user has no hold (a dead one not yet swept is released too)
]]
--- @include "seatLib"

local user, mode = ARGV[1], ARGV[2]
local now = nowMs()
local h = getHold(user)
if not h then return { 0, 'none' } end
if mode == 'admin' then
  local seats = holdSeats(h)
  local out = { releaseHold(user, 'released_by_admin', ''), 'released_by_admin' }
  for i = 1, #seats do out[#out + 1] = seats[i] end
  return out
end
if h.dl <= now then
  return { releaseHold(user, 'expired', ''), 'expired' }
end
if mode == 'abandoned' and isAbandoned(user, h.c, now) then
  return { releaseHold(user, 'abandoned', ''), 'abandoned' }
end
return { 0, 'none' }
