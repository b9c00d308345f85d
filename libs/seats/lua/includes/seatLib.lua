--[[
  Shared helpers of every seat script. Included (not pasted) by the loader in src/scripts.ts,
  which replaces the `--- @include "seatLib"` line of a script with this file.

  Every script receives ARGV[1] = the event's key base (`<prefix>:{e:<eventId>}:`) and builds
  its keys from it with the suffixes of libs/redis/src/keys.ts. All of them carry the event's
  hash tag, so one script never leaves one Redis Cluster slot; KEYS[1] (the meta hash) is the
  key that routes the call.

  Time is Redis's own clock (TIME), so nodes with skewed clocks still agree on deadlines.
]]
local base = ARGV[1]
local K = {
  meta = base .. 'meta',
  seatmap = base .. 'seatmap',
  state = base .. 'state',
  holds = base .. 'holds',
  seq = base .. 'seq',
  log = base .. 'log',
  channel = base .. 'ch',
  ordered = base .. 'ordered',
}
local function lockKey(seat) return base .. 'lock:' .. seat end
-- Set (PX = the event's `cool`) when a user lets a seat go: an unlock, or their hold running out or
-- being abandoned. While it lives that user may not lock that seat again (issue 17, finding 4: unlock
-- and re-lock renewed a hold for ever). One key per (user, seat), so nobody else's lock erases it.
local function coolKey(user, seat) return base .. 'cool:' .. user .. ':' .. seat end
-- When a user's holding time on the event began (ms), PX = the hold budget plus one TTL: every hold
-- they make while it lives ends by `started + ttl × (1 + maxExt)`, whatever they unlock and re-lock.
local function budgetKey(user) return base .. 'budget:' .. user end
local function holdKey(user) return base .. 'hold:' .. user end
local function holdSeatsKey(user) return base .. 'hold:' .. user .. ':seats' end
local function liveKey(user) return base .. 'live:' .. user end
local function pendingKey(order) return base .. 'pending:' .. order end
local function doneKey(order) return base .. 'done:' .. order end
-- A seat's lock key may still hold `cool|<user>` written by an earlier version (the cool-down lived
-- there until issue 17); it is no lock, and a lock overwrites it (the cool-down is coolKey now).
local COOL = 'cool|'
-- A seat's lock key holding OFFER .. user (PX = the waiting room's offer window) is no lock either:
-- the seat came free while people wait in the event's waiting room and is offered to that buyer
-- first (roomOfferee below); others are refused SEAT_OFFERED until it runs out.
local OFFER = 'offer|'
local function sweepLeaseKey() return base .. 'sweep-lease' end
-- How long an order that gave its seats back is remembered, so a rebuild reading PostgreSQL from
-- before that moment cannot hand the seats back to it.
local DONE_MS = 120000

-- Error codes: keep in step with ../src/errors.ts.
local E = {
  UNKNOWN_EVENT = -1, UNKNOWN_SEAT = -2, ALREADY_LOCKED = -3, NOT_YOURS = -4,
  ALREADY_UNLOCKED = -5, SEAT_UNAVAILABLE = -6, HOLD_LIMIT = -7, NO_HOLD = -8,
  EXTEND_LIMIT = -9, ALREADY_RESERVED = -10, NOT_RESERVED = -11, ALREADY_PAID = -12,
  NOT_IN_HOLD = -13, USER_LIMIT = -14, SALES_NOT_OPEN = -15, SALES_CLOSED = -16, WRONG_ORDER = -17,
  RELOCK_COOLDOWN = -18, SALES_PAUSED = -19, SEAT_OFFERED = -20, HOLD_BUDGET = -21,
}

-- How long a seat's lock key outlives its hold's deadline: the PX safety net only
-- matters when every other release path failed.
local LOCK_SAFETY_MS = 5000

-- Read once per script run: a script is atomic, so every step of it happens at the same instant.
local NOW = nil
local function nowMs()
  if not NOW then
    local t = redis.call('TIME')
    NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return NOW
end

--[[
  The event's settings, each read from the meta hash at most once per script run (a lock used to
  read `max` twice and the hold twice). Measured on Redis 7 here, one HMGET of every field costs
  more than the few HGETs a script needs, since the cost goes with the fields converted.
  `ixd` in the same hash is not a setting: the deadline the event's entry in the cluster-wide
  index of events with holds was last set at or below (see sweepHolds-1.lua).
]]
local metaCache = {}
local function setting(name, default)
  local v = metaCache[name]
  if v == nil then
    v = redis.call('HGET', K.meta, name)
    metaCache[name] = v
  end
  if not v then return default end
  return tonumber(v) or default
end

-- The event's epoch; every loadEvent writes one, so none means the event is not loaded.
local function epochOf()
  local v = metaCache.epoch
  if v == nil then
    v = redis.call('HGET', K.meta, 'epoch')
    metaCache.epoch = v
  end
  return v or nil
end

-- Whether the event is loaded (its meta hash carries an epoch).
local function eventLoaded() return epochOf() ~= nil end

--[[
  Appends seat events to the event's total order: one sequence number each, one entry each in
  the capped log (stream id `<seq>-1`, so XRANGE by seq needs no index), then ONE publish
  carrying them all. `origin` names the connection that caused them, so fan-out can exclude it.
  Returns the last sequence number (0 when there was nothing to emit).

  Inside a batch (beginBatch .. endBatch, seatTransitions-1.lua) nothing is published here: the
  events are numbered from a counter read once, logged, and kept for endBatch's one publish, each
  carrying its own origin as `o` (the log's copy has none, as before).
]]
local BATCH = nil

-- ONE publish on the event's channel carrying the encoded events `parts` (a SeatMessage).
local function publishEvents(parts, origin)
  -- `at` (Redis's clock, ms) lets each node measure its fan-out lag: publish to local delivery.
  local msg = '{"ev":[' .. table.concat(parts, ',') .. '],"at":' .. nowMs()
  local epoch = epochOf()
  if epoch then msg = msg .. ',"ep":' .. cjson.encode(epoch) end
  if origin and origin ~= '' then msg = msg .. ',"o":' .. cjson.encode(origin) end
  redis.call('SPUBLISH', K.channel, msg .. '}')
end

local function emit(events, origin)
  if #events == 0 then return 0 end
  local logMax = setting('logMax', 10000)
  local parts = BATCH and BATCH.parts or {}
  local tagged = origin and origin ~= '' and (',"o":' .. cjson.encode(origin) .. '}') or nil
  local last = 0
  for i = 1, #events do
    local ev = events[i]
    if BATCH then
      BATCH.seq = BATCH.seq + 1
      last = BATCH.seq
    else
      last = redis.call('INCR', K.seq)
    end
    ev.seq = last
    -- Each event is encoded once, for the log and for the message.
    local part = cjson.encode(ev)
    redis.call('XADD', K.log, 'MAXLEN', '~', logMax, last .. '-1', 'd', part)
    if BATCH and tagged then part = string.sub(part, 1, -2) .. tagged end
    parts[#parts + 1] = part
  end
  if not BATCH then publishEvents(parts, origin) end
  return last
end

-- Starts a batch: the sequence counter is read once and written once (endBatch), not INCR'd per event.
local function beginBatch()
  local seq = tonumber(redis.call('GET', K.seq) or '0')
  BATCH = { parts = {}, seq = seq, first = seq }
end

-- Ends a batch: stores the counter and publishes every event of the batch in one message.
local function endBatch()
  local b = BATCH
  BATCH = nil
  if b.seq == b.first then return end
  redis.call('SET', K.seq, b.seq)
  publishEvents(b.parts, nil)
end

--[[
  Releases every seat of `user`'s hold and deletes the hold. Seats are released only while the
  state hash still says this user locked them (a seat reserved since then is not touched).
  `why` is recorded on each `unlocked` event: `expired`, `abandoned`, `released`.
  Returns the number of seats released; their events are emitted here, or appended to `batch`
  when given, so a sweep of many holds emits them in one message (one SPUBLISH, not one per hold).
]]
--[[
  Released seats go to the waiting room's buyers in queue order, not to whoever locks first
  (libs/queue: the room's keys share the event's hash tag, `wr:` under its base). While the event's
  room has been drawn and someone is admitted or waiting, the buyer offered a released hold's seats
  is the admitted buyer with an empty hold (and no order) whose turn began first, or else the next in
  the queue, admitted on the spot. Returns that buyer and the offer window (ms), or nil.
]]
local function roomOfferee(releasing)
  local wr = base .. 'wr:'
  local v = redis.call('HMGET', wr .. 'meta', 'drawn', 'offerMs', 'turnMs', 'paused')
  local offerMs = tonumber(v[2] or '0') or 0
  if v[1] ~= '1' or offerMs <= 0 or v[4] == '1' then return nil end
  local now = nowMs()
  -- Admitted buyers by turn end: the first is the one admitted longest ago.
  for _, u in ipairs(redis.call('ZRANGEBYSCORE', wr .. 'adm', now, '+inf')) do
    if u ~= releasing and redis.call('EXISTS', holdSeatsKey(u)) == 0 and not redis.call('HGET', K.ordered, u) then return u, offerMs end
  end
  local next = redis.call('ZPOPMIN', wr .. 'q', 1)
  if #next == 0 then return nil end
  redis.call('ZADD', wr .. 'adm', now + (tonumber(v[3]) or 600000), next[1])
  redis.call('HINCRBY', wr .. 'meta', 'admittedTotal', 1)
  return next[1], offerMs
end

local function releaseHold(user, why, origin, batch)
  local members = redis.call('SMEMBERS', holdSeatsKey(user))
  table.sort(members) -- a deterministic order of the release's events
  local owned = 'L|' .. user
  local events = {}
  -- A hold that ran out (or was abandoned) may not be taken again at once by the same user
  -- (issue 8, finding 5: a script re-locked the instant its hold expired and kept seats forever).
  local cool, offeree, offerMs = 0, nil, 0
  if why == 'expired' or why == 'abandoned' then
    cool = setting('cool', 0)
    offeree, offerMs = roomOfferee(user)
  end
  for i = 1, #members do
    local seat = members[i]
    if redis.call('HGET', K.state, seat) == owned then
      redis.call('HDEL', K.state, seat)
      if offeree then
        redis.call('SET', lockKey(seat), OFFER .. offeree, 'PX', offerMs)
      else
        redis.call('DEL', lockKey(seat))
      end
      if cool > 0 then redis.call('SET', coolKey(user, seat), 1, 'PX', cool) end
      events[#events + 1] = { t = 'unlocked', seat = seat, u = user, why = why, offer = offeree }
    end
  end
  redis.call('DEL', holdKey(user), holdSeatsKey(user))
  redis.call('ZREM', K.holds, user)
  if batch then
    for i = 1, #events do batch[#batch + 1] = events[i] end
  else
    emit(events, origin)
  end
  return #events
end

--[[
  Whether `user`'s hold (created at `created`) is abandoned: no node has vouched for a live
  connection of the user to the event for the grace period. Each node records, per user, until
  when it vouches (markLive-1.lua); a node killed with -9 stops vouching when its last window runs
  out, so its users' holds become abandoned a grace after that (issue 8, finding 9).
]]
local function isAbandoned(user, created, now)
  local vals = redis.call('HVALS', liveKey(user))
  local liveUntil = tonumber(created or '0') or 0
  for i = 1, #vals do
    local v = tonumber(vals[i])
    if v and v > liveUntil then liveUntil = v end
  end
  return liveUntil + setting('grace', 30000) <= now
end

--[[
  The caller's hold if it is still alive. A hold past its deadline is treated as gone, and is
  released right here: expiry is enforced when state is read and changed, never only by the
  sweep, which can run late under load or not at all while the worker is down (DESIGN §3.3).
  Returns deadline, extensions (or nil when there is no live hold).
]]
local function liveHold(user, now)
  local h = redis.call('HMGET', holdKey(user), 'dl', 'ext')
  if not h[1] then return nil end
  local dl = tonumber(h[1])
  if dl <= now then
    releaseHold(user, 'expired', '')
    return nil
  end
  return dl, tonumber(h[2] or '0')
end

--[[
  Who really holds `seat` now: nil when free (cleaning a stale lock whose hold expired or whose
  PX safety net already fired), else the raw state value (`L|u`, `R|ref`, `P|ref`).
]]
local function seatState(seat, now)
  local v = redis.call('HGET', K.state, seat)
  if not v then return nil end
  if string.sub(v, 1, 2) ~= 'L|' then return v end
  local owner = string.sub(v, 3)
  if not liveHold(owner, now) then
    -- liveHold released the owner's whole hold if it had expired; a lock without a hold
    -- (hold key lost) is cleaned here.
    if redis.call('HGET', K.state, seat) == v then
      redis.call('HDEL', K.state, seat)
      redis.call('DEL', lockKey(seat))
      emit({ { t = 'unlocked', seat = seat, u = owner, why = 'expired' } }, '')
    end
    return nil
  end
  if redis.call('EXISTS', lockKey(seat)) == 0 then
    -- The PX safety net fired although the hold lives (clock jump, manual edit): the seat is free.
    redis.call('HDEL', K.state, seat)
    redis.call('SREM', holdSeatsKey(owner), seat)
    emit({ { t = 'unlocked', seat = seat, u = owner, why = 'expired' } }, '')
    return nil
  end
  return v
end

--[[
  A reserved or paid seat's state is `R|<ref>|<user>` / `P|<ref>|<user>` (ref: the order id, or
  `svc` for seed 000's backend actions; user empty when unknown). Returns kind, ref, user.
]]
local function parseTaken(v)
  local kind = string.sub(v, 1, 1)
  local rest = string.sub(v, 3)
  local bar = string.find(rest, '|', 1, true)
  if not bar then return kind, rest, '' end
  return kind, string.sub(rest, 1, bar - 1), string.sub(rest, bar + 1)
end

-- Seats a user has in pending and paid orders, for the per-user limit across holds and orders.
local function addOrdered(user, delta)
  if user == nil or user == '' then return end
  local n = redis.call('HINCRBY', K.ordered, user, delta)
  if n <= 0 then redis.call('HDEL', K.ordered, user) end
end

-- Takes one seat out of its owner's hold (it is being reserved, paid, or rebuilt away); an emptied
-- hold is deleted (and leaves the deadline index), so nothing is left to expire.
local function takeSeatFromHold(owner, seat)
  redis.call('SREM', holdSeatsKey(owner), seat)
  redis.call('DEL', lockKey(seat))
  if redis.call('SCARD', holdSeatsKey(owner)) == 0 then
    redis.call('DEL', holdKey(owner), holdSeatsKey(owner))
    redis.call('ZREM', K.holds, owner)
  end
end

--[[
  The latest deadline a hold of `user` may have (issue 17, finding 4): their holding time on the
  event began when they first made a hold (budgetKey, kept past an emptied hold), and ends
  `ttl × (1 + maxExt)` later, whatever they unlock and re-lock. The budget key lives one TTL more, so
  a spent budget is refused for that long. Without a live budget there is no cap yet (startBudget
  starts one with the new hold). Returns the cap (or nil) and the time until the budget key runs
  out, in ms.
]]
local function holdCap(user, now)
  local started = tonumber(redis.call('GET', budgetKey(user)) or '')
  if not started then return nil, 0 end
  local ttl = setting('ttl', 600000)
  local budgetMs = ttl * (1 + setting('maxExt', 2))
  return started + budgetMs, started + budgetMs + ttl - now
end

-- Starts the user's holding budget now (their first hold on the event, or the first since it ran out).
local function startBudget(user, now)
  local ttl = setting('ttl', 600000)
  redis.call('SET', budgetKey(user), now, 'PX', ttl * (2 + setting('maxExt', 2)))
end

-- Moves every lock key and the hold itself to a new deadline.
local function setHoldDeadline(user, dl, now)
  local ttl = dl - now + LOCK_SAFETY_MS
  redis.call('HSET', holdKey(user), 'dl', dl)
  redis.call('ZADD', K.holds, dl, user)
  local members = redis.call('SMEMBERS', holdSeatsKey(user))
  for i = 1, #members do redis.call('PEXPIRE', lockKey(members[i]), ttl) end
end
