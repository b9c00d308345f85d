--[[
  Locks one seat into the caller's hold, creating the hold when it has none.

  Input:
    KEYS[1] meta hash of the event (routes the call; every other key is built from ARGV[1])
    ARGV[1] key base of the event
    ARGV[2] user id
    ARGV[3] seat id
    ARGV[4] origin tag (`<nodeId>:<connId>`) for author exclusion, or ''

  Output:
    {1, seq, deadline, newHold(1|0), seatsInHold}
    {code} with code < 0: UNKNOWN_EVENT, UNKNOWN_SEAT, SEAT_UNAVAILABLE, ALREADY_LOCKED, HOLD_LIMIT,
      USER_LIMIT (seats in hold + seats in the user's orders reached the event's per-user limit),
      SALES_NOT_OPEN, SALES_CLOSED (outside the event's sales window)
]]
--- @include "seatLib"

local user, seat, origin = ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', K.meta) == 0 then return { E.UNKNOWN_EVENT } end
if redis.call('SISMEMBER', K.seatmap, seat) == 0 then return { E.UNKNOWN_SEAT } end
local now = nowMs()
local opensAt, closesAt = setting('opensAt', 0), setting('closesAt', 0)
if opensAt > 0 and now < opensAt then return { E.SALES_NOT_OPEN } end
if closesAt > 0 and now >= closesAt then return { E.SALES_CLOSED } end

-- A full hold is refused first, whatever the seat: the buyer must free a seat before trying any other.
local dl = liveHold(user, now)
local count = 0
if dl then
  count = redis.call('SCARD', holdSeatsKey(user))
  if count >= setting('max', 10) then return { E.HOLD_LIMIT } end
end
local maxUser = setting('maxUser', 0)
if maxUser > 0 and count + tonumber(redis.call('HGET', K.ordered, user) or '0') >= maxUser then
  return { E.USER_LIMIT }
end

local current = seatState(seat, now)
if current then
  if string.sub(current, 1, 2) ~= 'L|' then return { E.SEAT_UNAVAILABLE } end
  return { E.ALREADY_LOCKED }
end

-- seatState may have released holds (the caller's own included, had it just expired).
dl = liveHold(user, now)
local newHold = 0
if not dl then
  if setting('max', 10) < 1 then return { E.HOLD_LIMIT } end
  count = 0
  newHold = 1
  dl = now + setting('ttl', 600000)
  redis.call('HSET', holdKey(user), 'dl', dl, 'ext', 0, 'created', now)
  redis.call('ZADD', K.holds, dl, user)
  -- No PX on the hold itself: it must outlive its deadline until something releases it (the job,
  -- the sweep, or any script that touches it), or its seats would stay locked with nothing to say whose.
end

if not redis.call('SET', lockKey(seat), user, 'NX', 'PX', dl - now + LOCK_SAFETY_MS) then
  -- Only reachable when a lock key exists without a state entry (manual edits): refuse rather than guess.
  return { E.ALREADY_LOCKED }
end
redis.call('HSET', K.state, seat, 'L|' .. user)
redis.call('SADD', holdSeatsKey(user), seat)
local seq = emit({ { t = 'locked', seat = seat, u = user } }, origin)
return { 1, seq, dl, newHold, count + 1 }
