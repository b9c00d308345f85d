--[[
  One step of a waiting room, run by the node holding the room's lease every QUEUE_TICK_MS: gives
  up the places of users no node has seen for QUEUE_ABANDON_MS, ends turns, and admits as many
  buyers as what is left to sell can serve.

  Pacing by inventory: `free` = seats not held, reserved or sold. Admitted buyers whose turn runs
  and who hold nothing and have ordered nothing yet are about to take seats: each is counted for
  `avg` seats (the running mean of what admitted buyers took, starting from ARGV[5] with the weight
  of five buyers). The room admits while free / avg (rounded up: one free seat still serves a
  buyer) exceeds those buyers, so the buyers shopping with an empty hold never exceed the free seats; when holds cover every free seat it admits nobody
  and resumes by itself when a hold is released or expires, or an order is canceled or expires.
  An admitted buyer with an empty hold whom no node has seen on the topic for ARGV[6] ms has left
  (closed the page, or finished and left the room): they no longer count as about to buy.
  `maxActive` caps admitted buyers still shopping (an empty hold, or a hold). When no seat is free,
  none is held and none reserved, the room is sold out: it admits nobody until seats come back.

  Input: KEYS the room's keys (roomLib); ARGV[1] node id, ARGV[2] lease ms,
         ARGV[3] abandon ms, ARGV[4] most admissions per tick, ARGV[5] seats per buyer before any was seen,
         ARGV[6] how recently an admitted buyer with an empty hold must have been seen to count,
         ARGV[7] how often (ms) the admitted buyers are walked for those counts
  Output:
    {'busy'}       another node holds the lease
    {'lost'}       Redis does not have the room
    {'no_seats'}   Redis does not have the event's seat map (load it)
    {'draw_due'}   sales are open and the pre-queue has not been drawn: the caller draws (WaitingRooms.draw)
    {phase, waiting, admitted now, free seats, buyers with empty holds, buyers shopping, turn end of those admitted now, given up}
]]
--- @include "roomLib"

local node, leaseMs, abandonMs, batchMax, prior, presentMs = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if not redis.call('SET', K.lease, node, 'NX', 'PX', leaseMs) then
  if redis.call('GET', K.lease) ~= node then return { 'busy' } end
  redis.call('PEXPIRE', K.lease, leaseMs)
end
local m = readMeta()
if not m then return { 'lost' } end
local now = nowMs()
local ph = phase(m, now)
if ph == 'not_open' or ph == 'closed' then return { ph, 0, 0, 0, 0, 0, 0, 0 } end

-- Places whose user has had no socket on the topic for abandonMs (a bounded batch per tick).
local gone = redis.call('ZRANGEBYSCORE', K.seen, '-inf', now - abandonMs, 'LIMIT', 0, 1000)
for _, user in ipairs(gone) do
  redis.call('ZREM', K.seen, user)
  redis.call('HDEL', K.pre, user)
  redis.call('ZREM', K.late, user)
  redis.call('ZREM', K.queue, user)
end
if ph == 'pre_queue' then return { ph, redis.call('HLEN', K.pre), 0, 0, 0, 0, 0, #gone } end
-- Re-created after Redis lost it: the nodes are still putting their waiters back (queueLoad).
if now < num(redis.call('HGET', K.meta, 'restoreUntil'), 0) then return { ph == 'draw_due' and 'pre_queue' or ph, redis.call('ZCARD', K.queue), 0, 0, 0, 0, 0, #gone } end
if ph == 'draw_due' then return { 'draw_due' } end
if redis.call('EXISTS', K.seatmap) == 0 then return { 'no_seats' } end

redis.call('ZREMRANGEBYSCORE', K.admitted, '-inf', now)
local total = redis.call('SCARD', K.seatmap)
local free = total - redis.call('HLEN', K.state)
-- Walking every admitted buyer costs a few calls each (at 5,000 of them, tens of ms of Redis), so
-- it is done once per ARGV[7] ms; the ticks between reuse its counts plus whom they admitted since,
-- which can only overstate the buyers about to take seats (some of them have taken seats since):
-- admission errs on the side of fewer.
local walkEvery = tonumber(ARGV[7] or '0')
local cached = redis.call('HMGET', K.meta, 'walkAt', 'wEmpty', 'wShopping', 'wAvg', 'sinceWalk')
local walk = not cached[1] or now - tonumber(cached[1]) >= walkEvery
local empty, shopping, tookN, tookSeats, doneN, doneSeats = 0, 0, 0, 0, 0, 0
for _, user in ipairs(walk and redis.call('ZRANGE', K.admitted, 0, -1) or {}) do
  local held = holdSize(user)
  local ordered = tonumber(redis.call('HGET', K.ordered, user) or '0')
  if held + ordered > 0 then
    tookN = tookN + 1
    tookSeats = tookSeats + held + ordered
  end
  -- A buyer who ordered and holds nothing more is done: what they took is final.
  if held == 0 and ordered > 0 then
    doneN = doneN + 1
    doneSeats = doneSeats + ordered
  end
  if held > 0 then
    shopping = shopping + 1
  elseif ordered == 0 and tonumber(redis.call('ZSCORE', K.seen, user) or '0') >= now - presentMs then
    empty = empty + 1
    shopping = shopping + 1
  end
end

-- Sold out: nothing free, held or reserved. Reserved seats are counted only when nothing is free
-- or held (the state hash is walked once, near the very end of a drop).
local soldOut = false
if free <= 0 and redis.call('ZCARD', K.holds) == 0 then
  soldOut = true
  for _, v in ipairs(redis.call('HVALS', K.state)) do
    if string.sub(v, 1, 2) == 'R|' then
      soldOut = false
      break
    end
  end
end
-- Seats per buyer: what finished buyers took, once there are a few (a hold still growing
-- understates it, and buyers with empty holds then outnumbered free seats in the benchmark); until
-- then what every buyer holds or ordered so far; both weighed against the prior as five buyers.
local avg = (tookSeats + prior * 5) / (tookN + 5)
if doneN >= 5 then avg = math.max(avg, (doneSeats + prior * 5) / (doneN + 5)) end
if walk then
  redis.call('HSET', K.meta, 'walkAt', now, 'wEmpty', empty, 'wShopping', shopping, 'wAvg', avg, 'sinceWalk', 0)
else
  local since = tonumber(cached[5] or '0')
  empty, shopping, avg = tonumber(cached[2]) + since, tonumber(cached[3]) + since, tonumber(cached[4])
end
-- Admissions per second, an exponentially weighted mean over about ten seconds.
local rateAt = num(redis.call('HGET', K.meta, 'rateAt'), now)
local decay = math.exp(-math.max(0, now - rateAt) / 10000)
local admitN = 0
if soldOut then
  ph = 'sold_out'
elseif not m.paused then
  ph = 'running'
  admitN = math.ceil(free / avg) - empty
  if m.maxActive > 0 and m.maxActive - shopping < admitN then admitN = m.maxActive - shopping end
  if admitN > batchMax then admitN = batchMax end
else
  ph = 'running'
end
local untilMs = now + m.turnMs
if admitN > 0 then
  local popped = redis.call('ZPOPMIN', K.queue, admitN)
  admitN = #popped / 2
  for i = 1, #popped, 2 do redis.call('ZADD', K.admitted, untilMs, popped[i]) end
  redis.call('HINCRBY', K.meta, 'admittedTotal', admitN)
  redis.call('HINCRBY', K.meta, 'sinceWalk', admitN)
else
  admitN = 0
end
local rate = m.rate * decay + admitN / 10
-- `empty` and `shopping` as they stand after this tick's admissions (the buyers just admitted hold nothing yet).
empty, shopping = empty + admitN, shopping + admitN
redis.call('HSET', K.meta, 'soldOut', soldOut and 1 or 0, 'free', free, 'avg', avg, 'empty', empty, 'shopping', shopping, 'rate', rate, 'rateAt', now)
return { ph, redis.call('ZCARD', K.queue), admitN, free, empty, shopping, untilMs, #gone }
