--[[
  Turns seats of the caller's hold into an order's reserved seats, atomically: the hold must still
  be alive (by Redis's clock, so a hold that expired a millisecond ago cannot become an order) and
  own every seat named. Once reserved, an expiry of the hold can no longer take them: expiry only
  releases seats whose state still says `L|<user>`.

  Input:
    KEYS the event's keys, in the order of SEAT_SCRIPT_KEYS (libs/redis/src/keys.ts; seatLib's K)
    ARGV[1] user id
    ARGV[2] order id
    ARGV[3] ms the order may take to reach PostgreSQL: until then a rebuild keeps its seats
    ARGV[4..] seat ids; none means every seat of the hold

  Output:
    {1, lastSeq, seat1, seat2, ...} (seats in the order they were reserved)
    {code} NO_HOLD (none, or expired), UNKNOWN_EVENT, SALES_CLOSED, SALES_PAUSED (an admin froze the
      event's sales; the hold is kept, deadline unchanged)
    {NOT_IN_HOLD, seat} the first named seat the hold does not own
]]
--- @include "seatLib"

local user, orderId = ARGV[1], ARGV[2]
if not eventLoaded() then return { E.UNKNOWN_EVENT } end
local now = nowMs()
local closesAt = setting('closesAt', 0)
if closesAt > 0 and now >= closesAt then return { E.SALES_CLOSED } end
if setting('paused', 0) == 1 then return { E.SALES_PAUSED } end
if not liveHold(user, now) then return { E.NO_HOLD } end

local seats = {}
if #ARGV >= 4 then
  for i = 4, #ARGV do seats[#seats + 1] = ARGV[i] end
else
  seats = holdSeats(getHold(user))
end
if #seats == 0 then return { E.NO_HOLD } end
local owned = 'L|' .. user
for i = 1, #seats do
  if redis.call('HGET', K.state, seats[i]) ~= owned then
    return { E.NOT_IN_HOLD, seats[i] }
  end
end

local events = {}
local value = 'R|' .. orderId .. '|' .. user
for i = 1, #seats do
  local seat = seats[i]
  redis.call('HSET', K.state, seat, value)
  takeSeatFromHold(user, seat)
  events[#events + 1] = { t = 'reserved', seat = seat, u = user }
end
addOrdered(user, #seats)
redis.call('ZADD', K.pendingOrders, now + tonumber(ARGV[3]), orderId)
local last = emit(events, '')
local out = { 1, last }
for i = 1, #seats do out[#out + 1] = seats[i] end
return out
