--[[
  Unlocks one seat of the caller's hold. A hold left empty is deleted and leaves the event's
  deadline index, so nothing is left behind to expire. A plain unlock starts no re-lock cool-down
  (the cool-down is for holds that ran out; a buyer may put a seat back and take it again).

  Input:
    KEYS[1] meta hash of the event
    ARGV[1] key base of the event
    ARGV[2] user id
    ARGV[3] seat id
    ARGV[4] origin tag, or ''

  Output:
    {1, seq, seatsLeftInHold}
    {code}: UNKNOWN_EVENT, UNKNOWN_SEAT, ALREADY_UNLOCKED, NOT_YOURS
]]
--- @include "seatLib"

local user, seat, origin = ARGV[2], ARGV[3], ARGV[4]
if not eventLoaded() then return { E.UNKNOWN_EVENT } end
if redis.call('SISMEMBER', K.seatmap, seat) == 0 then return { E.UNKNOWN_SEAT } end
local now = nowMs()

local current = seatState(seat, now)
if not current then return { E.ALREADY_UNLOCKED } end
if current ~= 'L|' .. user then return { E.NOT_YOURS } end

redis.call('HDEL', K.state, seat)
redis.call('DEL', lockKey(seat))
redis.call('SREM', holdSeatsKey(user), seat)
local left = redis.call('SCARD', holdSeatsKey(user))
if left == 0 then
  redis.call('DEL', holdKey(user), holdSeatsKey(user))
  redis.call('ZREM', K.holds, user)
end
local seq = emit({ { t = 'unlocked', seat = seat, u = user, why = 'unlocked' } }, origin)
return { 1, seq, left }
