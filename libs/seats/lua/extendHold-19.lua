--[[
  Gives the caller's hold a fresh TTL from now, at most `maxExt` times per hold, and never past the
  end of the user's holding budget on the event (seatLib's holdCap).

  Input:
    KEYS the event's keys, in the order of SEAT_SCRIPT_KEYS (libs/redis/src/keys.ts; seatLib's K)
    ARGV[1] user id

  Output:
    {1, newDeadline, extensionsLeft}
    {code}: UNKNOWN_EVENT, NO_HOLD, EXTEND_LIMIT
]]
--- @include "seatLib"

local user = ARGV[1]
if not eventLoaded() then return { E.UNKNOWN_EVENT } end
local now = nowMs()
local dl, ext = liveHold(user, now)
if not dl then return { E.NO_HOLD } end
local maxExt = setting('maxExt', 2)
if ext >= maxExt then return { E.EXTEND_LIMIT } end
local newDl = now + setting('ttl', 600000)
-- Never past the user's holding budget on the event (seatLib's holdCap).
local cap = holdCap(user, now)
if cap and newDl > cap then newDl = cap end
if newDl < dl then newDl = dl end
local h = getHold(user)
h.ext = ext + 1
setHoldDeadline(user, h, newDl)
return { 1, newDl, maxExt - ext - 1 }
