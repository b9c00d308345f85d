--[[
  Shared helpers of every seat script. Included (not pasted) by the loader in
  libs/redis/src/lua-scripts.ts, which replaces the `--- @include "seatLib"` line of a script with
  this file.

  Every key a script touches is declared in KEYS, in the order of SEAT_SCRIPT_KEYS
  (libs/redis/src/keys.ts; libs/redis/test/lua-key-names.test.ts checks the two agree). No script
  builds a key name: what belongs to one seat, user or order is a field or member of the event's
  fixed keys (a hold is a field of `holdInfo`, a cool-down a member of `cool`), with its deadline
  stored beside it where a key of its own used to carry a PX. Those deadlines are enforced when read
  and swept by `housekeeping` below. All keys carry the event's hash tag, so a script never leaves
  one Redis Cluster slot.

  Time is Redis's own clock (TIME), so nodes with skewed clocks still agree on deadlines.
]]
local K = {
  meta = KEYS[1], seatmap = KEYS[2], state = KEYS[3], holds = KEYS[4], holdInfo = KEYS[5],
  ordered = KEYS[6], seq = KEYS[7], log = KEYS[8], channel = KEYS[9], cool = KEYS[10],
  budgets = KEYS[11], live = KEYS[12], pendingOrders = KEYS[13], doneOrders = KEYS[14], offers = KEYS[15],
  sweepLease = KEYS[16], roomMeta = KEYS[17], roomAdmitted = KEYS[18], roomQueue = KEYS[19],
}
-- Members of `cool` (user, seat) and `live` (user, node) join two ids with '|': user ids never
-- contain one (local ids and providers' mapped ids are UUIDs, libs/auth).
local function pairMember(a, b) return a .. '|' .. b end
-- How long an order that gave its seats back is remembered, so a rebuild reading PostgreSQL from
-- before that moment cannot hand the seats back to it.
local DONE_MS = 120000

-- Error codes: keep in step with ../src/errors.ts.
local E = {
  UNKNOWN_EVENT = -1, UNKNOWN_SEAT = -2, ALREADY_LOCKED = -3, NOT_YOURS = -4,
  ALREADY_UNLOCKED = -5, SEAT_UNAVAILABLE = -6, HOLD_LIMIT = -7, NO_HOLD = -8,
  EXTEND_LIMIT = -9, ALREADY_RESERVED = -10, NOT_RESERVED = -11, ALREADY_PAID = -12,
  NOT_IN_HOLD = -13, USER_LIMIT = -14, SALES_NOT_OPEN = -15, SALES_CLOSED = -16, WRONG_ORDER = -17,
  RELOCK_COOLDOWN = -18, SALES_PAUSED = -19, SEAT_OFFERED = -20, HOLD_BUDGET = -21, NO_BLOCK = -22,
}

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
  index of events with holds was last set at or below (see sweepHolds-19.lua).
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
  A user's hold: the field `user` of holdInfo, JSON `{"dl": deadline ms, "ext": extensions used,
  "c": created ms, "s": [seat ids]}`, and the member `user` of the deadline index `holds` (score dl).
  A hold with no seat left is deleted, so nothing is left behind to expire. Each hold is read from
  Redis at most once per script run; every change goes through putHold or dropHold, which keep that
  copy and Redis alike.
]]
local holdCache = {}
local function getHold(user)
  local h = holdCache[user]
  if h == nil then
    local raw = redis.call('HGET', K.holdInfo, user)
    h = raw and cjson.decode(raw) or false
    holdCache[user] = h
  end
  return h or nil
end

local function putHold(user, h)
  holdCache[user] = h
  redis.call('HSET', K.holdInfo, user, cjson.encode(h))
end

local function dropHold(user)
  holdCache[user] = false
  redis.call('HDEL', K.holdInfo, user)
  redis.call('ZREM', K.holds, user)
end

-- The hold's seats, sorted (a copy: callers may release them while walking it).
local function holdSeats(h)
  local out = {}
  for i = 1, #h.s do out[i] = h.s[i] end
  table.sort(out)
  return out
end

-- Removes `seat` from the hold's list (at most `max` seats long: a scan is cheapest).
local function withoutSeat(h, seat)
  for i = 1, #h.s do
    if h.s[i] == seat then
      table.remove(h.s, i)
      return
    end
  end
end

-- A dated member (cool-downs, orders being written, orders that gave seats back): its score is
-- the time it lapses. Lapsed members count as absent here and are removed by housekeeping.
local function datedLeft(key, member, now)
  local untilMs = tonumber(redis.call('ZSCORE', key, member) or '0')
  if untilMs > now then return untilMs - now end
  return 0
end

--[[
  Appends seat events to the event's total order: one sequence number each, one entry each in
  the capped log (stream id `<seq>-1`, so XRANGE by seq needs no index), then ONE publish
  carrying them all. `origin` names the connection that caused them, so fan-out can exclude it.
  Returns the last sequence number (0 when there was nothing to emit).

  Inside a batch (beginBatch .. endBatch, seatTransitions-19.lua) nothing is published here: the
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
  Released seats go to the waiting room's buyers in queue order, not to whoever locks first
  (libs/queue; its keys are declared here as roomMeta, roomAdmitted and roomQueue). While the event's
  room has been drawn and someone is admitted or waiting, the buyer offered a released hold's seats
  is the admitted buyer with an empty hold (and no order) whose turn began first, or else the next in
  the queue, admitted on the spot. Returns that buyer and the offer window (ms), or nil.
]]
local function roomOfferee(releasing)
  local v = redis.call('HMGET', K.roomMeta, 'drawn', 'offerMs', 'turnMs', 'paused')
  local offerMs = tonumber(v[2] or '0') or 0
  if v[1] ~= '1' or offerMs <= 0 or v[4] == '1' then return nil end
  local now = nowMs()
  -- Admitted buyers by turn end: the first is the one admitted longest ago.
  for _, u in ipairs(redis.call('ZRANGEBYSCORE', K.roomAdmitted, now, '+inf')) do
    if u ~= releasing and not getHold(u) and not redis.call('HGET', K.ordered, u) then return u, offerMs end
  end
  local next = redis.call('ZPOPMIN', K.roomQueue, 1)
  if #next == 0 then return nil end
  redis.call('ZADD', K.roomAdmitted, now + (tonumber(v[3]) or 600000), next[1])
  redis.call('HINCRBY', K.roomMeta, 'admittedTotal', 1)
  return next[1], offerMs
end

--[[
  Releases every seat of `user`'s hold and deletes the hold. Seats are released only while the
  state hash still says this user locked them (a seat reserved since then is not touched).
  `why` is recorded on each `unlocked` event: `expired`, `abandoned`, `released`.
  Returns the number of seats released; their events are emitted here, or appended to `batch`
  when given, so a sweep of many holds emits them in one message (one SPUBLISH, not one per hold).
]]
local function releaseHold(user, why, origin, batch)
  local h = getHold(user)
  local members = h and holdSeats(h) or {} -- sorted: a deterministic order of the release's events
  local owned = 'L|' .. user
  local events = {}
  -- A hold that ran out (or was abandoned) may not be taken again at once by the same user: a
  -- script re-locking the instant its hold expired kept seats for ever (docs/reliability.md).
  local cool, offeree, offerMs = 0, nil, 0
  if why == 'expired' or why == 'abandoned' then
    cool = setting('cool', 0)
    offeree, offerMs = roomOfferee(user)
  end
  local now = nowMs()
  for i = 1, #members do
    local seat = members[i]
    if redis.call('HGET', K.state, seat) == owned then
      redis.call('HDEL', K.state, seat)
      if offeree then redis.call('HSET', K.offers, seat, (now + offerMs) .. '|' .. offeree) end
      if cool > 0 then redis.call('ZADD', K.cool, now + cool, pairMember(user, seat)) end
      events[#events + 1] = { t = 'unlocked', seat = seat, u = user, why = why, offer = offeree }
    end
  end
  dropHold(user)
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
  when it vouches (markLive-19.lua: the field `user` of `live`, JSON node → until ms); a node killed
  with -9 stops vouching when its last window runs out, so its users' holds become abandoned a
  grace after that (docs/reliability.md, round one).
]]
local function isAbandoned(user, created, now)
  local raw = redis.call('HGET', K.live, user)
  local liveUntil = tonumber(created or '0') or 0
  if raw then
    for _, v in pairs(cjson.decode(raw)) do
      if v > liveUntil then liveUntil = v end
    end
  end
  return liveUntil + setting('grace', 30000) <= now
end

--[[
  The caller's hold if it is still alive. A hold past its deadline is treated as gone, and is
  released right here: expiry is enforced when state is read and changed, never only by the
  sweep, which can run late under load or not at all while the worker is down.
  Returns deadline, extensions (or nil when there is no live hold).
]]
local function liveHold(user, now)
  local h = getHold(user)
  if not h then return nil end
  if h.dl <= now then
    releaseHold(user, 'expired', '')
    return nil
  end
  return h.dl, h.ext
end

--[[
  Who really holds `seat` now: nil when free (cleaning a stale lock whose hold expired or is gone),
  else the raw state value (`L|u`, `R|ref|u`, `P|ref|u`).
]]
local function seatState(seat, now)
  local v = redis.call('HGET', K.state, seat)
  if not v then return nil end
  if string.sub(v, 1, 2) ~= 'L|' then return v end
  local owner = string.sub(v, 3)
  if not liveHold(owner, now) then
    -- liveHold released the owner's whole hold if it had expired; a lock without a hold (its
    -- record lost to a manual edit, or written by an older layout) is cleaned here.
    if redis.call('HGET', K.state, seat) == v then
      redis.call('HDEL', K.state, seat)
      emit({ { t = 'unlocked', seat = seat, u = owner, why = 'expired' } }, '')
    end
    return nil
  end
  return v
end

--[[
  A reserved or paid seat's state is `R|<ref>|<user>` / `P|<ref>|<user>` (ref: the order id, or
  `svc` for the legacy seat dialect's backend actions; user empty when unknown). Returns kind, ref, user.
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
  local h = getHold(owner)
  if not h then return end
  withoutSeat(h, seat)
  if #h.s == 0 then dropHold(owner) else putHold(owner, h) end
end

--[[
  The latest deadline a hold of `user` may have: their holding time on the event began when they
  first made a hold (their member of `budgets`, kept past an emptied hold), and ends
  `ttl × (1 + maxExt)` later, whatever they unlock and re-lock (docs/reliability.md, round two,
  finding 4). The budget lapses one TTL after that, so a spent budget is refused for that long.
  Without a live budget there is no cap yet (startBudget starts one with the new hold). Returns the
  cap (or nil) and the time until the budget lapses, in ms.
]]
local function holdCap(user, now)
  local started = tonumber(redis.call('ZSCORE', K.budgets, user) or '')
  if not started then return nil, 0 end
  local ttl = setting('ttl', 600000)
  local budgetMs = ttl * (1 + setting('maxExt', 2))
  local left = started + budgetMs + ttl - now
  if left <= 0 then return nil, 0 end -- lapsed (housekeeping removes it)
  return started + budgetMs, left
end

-- Starts the user's holding budget now (their first hold on the event, or the first since it lapsed).
local function startBudget(user, now)
  redis.call('ZADD', K.budgets, now, user)
end

-- Moves the hold to a new deadline.
local function setHoldDeadline(user, h, dl)
  h.dl = dl
  putHold(user, h)
  redis.call('ZADD', K.holds, dl, user)
end

--[[
  Removes what has lapsed from the dated sets and hashes (cool-downs, budgets, order markers,
  liveness, offers), at most once per HOUSEKEEPING_MS per event: sweepHolds calls it, and readers
  already treat lapsed entries as absent, so this only bounds memory. The sorted sets are trimmed by
  score; `live` and `offers` are hashes, walked HOUSEKEEPING_SCAN fields per run from a cursor kept in
  the meta hash (`hkLive`, `hkOffers`).
]]
local HOUSEKEEPING_MS = 10000
local HOUSEKEEPING_SCAN = 200

local function pruneHash(key, cursorField, lapsed)
  local r = redis.call('HSCAN', key, redis.call('HGET', K.meta, cursorField) or '0', 'COUNT', HOUSEKEEPING_SCAN)
  local gone = {}
  for i = 1, #r[2], 2 do
    if lapsed(r[2][i + 1]) then gone[#gone + 1] = r[2][i] end
  end
  if #gone > 0 then redis.call('HDEL', key, unpack(gone)) end
  redis.call('HSET', K.meta, cursorField, r[1])
end

local function housekeeping(now)
  -- Never on an event Redis does not have: writing its cursor would bring back a meta hash
  -- without an epoch, which a reader checking for the hash alone would take for a loaded event.
  if not eventLoaded() or now < setting('hkAt', 0) then return end
  redis.call('HSET', K.meta, 'hkAt', now + HOUSEKEEPING_MS)
  redis.call('ZREMRANGEBYSCORE', K.cool, '-inf', now)
  redis.call('ZREMRANGEBYSCORE', K.pendingOrders, '-inf', now)
  redis.call('ZREMRANGEBYSCORE', K.doneOrders, '-inf', now)
  local ttl = setting('ttl', 600000)
  redis.call('ZREMRANGEBYSCORE', K.budgets, '-inf', now - ttl * (2 + setting('maxExt', 2)))
  -- A node's vouch older than the grace no longer changes whether a hold is abandoned (isAbandoned).
  local grace = setting('grace', 30000)
  pruneHash(K.live, 'hkLive', function(raw)
    for _, v in pairs(cjson.decode(raw)) do
      if v + grace > now then return false end
    end
    return true
  end)
  pruneHash(K.offers, 'hkOffers', function(raw)
    return tonumber(string.match(raw, '^(%d+)|')) <= now
  end)
end

--[[
  A free seat's offer to a waiting-room buyer (roomOfferee): the buyer and the time left, or nil
  when there is none or it lapsed.
]]
local function offerOf(seat, now)
  local v = redis.call('HGET', K.offers, seat)
  if not v then return nil end
  local untilMs, to = string.match(v, '^(%d+)|(.*)$')
  local left = tonumber(untilMs) - now
  if left <= 0 then return nil end
  return to, left
end
