--[[
  Gives the caller's hold a fresh TTL from now, at most `maxExt` times per hold, and never past the
  end of the user's holding budget on the event (seatLib's holdCap).

  Input:
    KEYS[1] meta hash of the event
    ARGV[1] key base of the event
    ARGV[2] user id

  Output:
    {1, newDeadline, extensionsLeft}
    {code}: UNKNOWN_EVENT, NO_HOLD, EXTEND_LIMIT
]]
--- @include "seatLib"

local user = ARGV[2]
if not eventLoaded() then return { E.UNKNOWN_EVENT } end
local now = nowMs()
local dl, ext = liveHold(user, now)
if not dl then return { E.NO_HOLD } end
local maxExt = setting('maxExt', 2)
if ext >= maxExt then return { E.EXTEND_LIMIT } end
local newDl = now + setting('ttl', 600000)
-- Never past the user's holding budget on the event (seatLib's holdCap, issue 17 finding 4).
local cap = holdCap(user, now)
if cap and newDl > cap then newDl = cap end
if newDl < dl then newDl = dl end
redis.call('HSET', holdKey(user), 'ext', ext + 1)
setHoldDeadline(user, newDl, now)
return { 1, newDl, maxExt - ext - 1 }
