--[[
  A buyer's two transitions, lock and unlock, as functions over seatLib, so one script call can
  apply a whole batch of them in order (seatTransitions-19.lua: group commit). Each returns exactly
  the reply a call of its own would: a refusal changes nothing, a success emits its one event.

  The hot path of a drop: no job per hold; each setting is read once per script run (seatLib's
  setting(), so a batch reads it once for all its transitions), the caller's hold once, the seat's
  state once, and the cluster-wide index is touched only when a hold is earlier than the event's
  entry there.

  lockOne(user, seat, origin):
    {1, seq, deadline, newHold(1|0), seatsInHold, earliest(1|0)}
      earliest: the new hold's deadline is earlier than the event's entry in the cluster-wide index
      of events with holds, so the caller must lower that entry (SeatService.lock; see
      sweepHolds-19.lua for why the index is written outside the scripts)
    {code} with code < 0: UNKNOWN_EVENT, UNKNOWN_SEAT, SEAT_UNAVAILABLE, ALREADY_LOCKED, HOLD_LIMIT,
      USER_LIMIT (seats in hold + seats in the user's orders reached the event's per-user limit),
      SALES_NOT_OPEN, SALES_CLOSED (outside the event's sales window), SALES_PAUSED (an admin froze
      the event's sales: meta `paused` = 1; the scripts are the only check, so every node refuses at once)
    {SEAT_OFFERED, seat, retryAfterMs}: the seat came free while people wait in the event's waiting
      room and is offered to another buyer until retryAfterMs passes (seatLib's roomOfferee)
    {RELOCK_COOLDOWN, seat, retryAfterMs}: the caller let this seat go (unlocked it, or their hold on
      it expired or was abandoned) less than the event's `cool` ms ago: their member of seatLib's `cool`
      lives. Other users may lock it (the member names both); one ZSCORE per lock, none when `cool` is 0
    {HOLD_BUDGET, seat, retryAfterMs}: a new hold would start after the end of the caller's holding
      budget on the event (seatLib's holdCap: `ttl × (1 + maxExt)` from their first hold); retryAfterMs
      is when the budget lapses

  unlockOne(user, seat, origin): the seat is cooled down for its user (`cool` ms), so unlock and
  re-lock cannot renew a hold (docs/reliability.md, round two, finding 4). A hold left empty is deleted and
  leaves the event's deadline index, so nothing is left behind to expire; the user's holding budget
  stays.
    {1, seq, seatsLeftInHold}
    {code}: UNKNOWN_EVENT, UNKNOWN_SEAT, ALREADY_UNLOCKED, NOT_YOURS
]]

--[[
  What every lock checks before any seat, for a lock of `n` seats: the event's sales are open and
  not paused, and the caller's hold and orders have room for `n` more. Returns nil, the live hold's
  deadline (or nil) and its seat count; or the refusal.
]]
local function lockGate(user, n, now)
  if setting('paused', 0) == 1 then return { E.SALES_PAUSED } end
  local opensAt, closesAt = setting('opensAt', 0), setting('closesAt', 0)
  if opensAt > 0 and now < opensAt then return { E.SALES_NOT_OPEN } end
  if closesAt > 0 and now >= closesAt then return { E.SALES_CLOSED } end

  -- A full hold is refused first, whatever the seat: the buyer must free a seat before trying any
  -- other. liveHold releases the caller's own hold here if it just expired (starting its re-lock
  -- cool-down).
  local maxSeats = setting('max', 10)
  local dl = liveHold(user, now)
  local count = 0
  if dl then count = #getHold(user).s end
  if count + n > maxSeats then return { E.HOLD_LIMIT } end
  local maxUser = setting('maxUser', 0)
  if maxUser > 0 and count + n + tonumber(redis.call('HGET', K.ordered, user) or '0') > maxUser then
    return { E.USER_LIMIT }
  end
  return nil, dl, count
end

-- The deadline of a new hold of `user`, within their holding budget; or the HOLD_BUDGET refusal.
local function newHoldDeadline(user, seat, now)
  local cap, budgetLeft = holdCap(user, now)
  local dl = now + setting('ttl', 600000)
  if cap and cap < dl then dl = cap end
  if dl <= now then return nil, false, { E.HOLD_BUDGET, seat, budgetLeft } end
  return dl, cap ~= nil
end

--[[
  Writes the lock of `seats` (all checked free for `user`) into the caller's hold, creating it
  with deadline `dl` when `newHold`, and emits one `locked` event per seat. Returns seq, earliest.
]]
local function commitLocks(user, seats, dl, newHold, budgetStarted, now, origin)
  for i = 1, #seats do
    if offerOf(seats[i], now) then redis.call('HDEL', K.offers, seats[i]) end
  end
  if newHold == 1 and not budgetStarted then startBudget(user, now) end -- the budget starts with the user's first hold
  local h, earliest = nil, 0
  if newHold == 1 then
    -- The cluster-wide index needs a lower entry only when this deadline is earlier than the one the
    -- event is indexed at (`ixd`), which with one TTL per event is rare: usually only the first hold.
    local ixd = setting('ixd', 0)
    if ixd == 0 or dl < ixd then
      redis.call('HSET', K.meta, 'ixd', dl)
      metaCache.ixd = tostring(dl) -- the next lock of the same batch compares with this one
      earliest = 1
    end
    h = { dl = dl, ext = 0, c = now, s = {} }
    redis.call('ZADD', K.holds, dl, user)
    -- The hold outlives its deadline until something releases it (the sweep, or any script that
    -- touches it), or its seats would stay locked with nothing to say whose.
  else
    h = getHold(user)
  end
  local events = {}
  for i = 1, #seats do
    h.s[#h.s + 1] = seats[i]
    redis.call('HSET', K.state, seats[i], 'L|' .. user)
    events[i] = { t = 'locked', seat = seats[i], u = user }
  end
  putHold(user, h)
  return emit(events, origin), earliest
end

local function lockOne(user, seat, origin)
  if not eventLoaded() then return { E.UNKNOWN_EVENT } end
  if redis.call('SISMEMBER', K.seatmap, seat) == 0 then return { E.UNKNOWN_SEAT } end
  local now = nowMs()
  local refused, dl, count = lockGate(user, 1, now)
  if refused then return refused end

  -- seatState may release other users' dead holds; it cannot release the caller's, which is alive
  -- at `now` (checked above) or absent.
  local current = seatState(seat, now)
  if current then
    if string.sub(current, 1, 2) ~= 'L|' then return { E.SEAT_UNAVAILABLE } end
    return { E.ALREADY_LOCKED }
  end
  -- A seat this user let go within the event's cool-down (their own member: nobody else's lock erases it).
  if setting('cool', 0) > 0 then
    local left = datedLeft(K.cool, pairMember(user, seat), now)
    if left > 0 then return { E.RELOCK_COOLDOWN, seat, left } end
  end
  local newHold, budgetStarted = 0, false
  if not dl then
    -- A new hold ends within the user's holding budget on the event, however many holds came before.
    local budgetRefusal
    dl, budgetStarted, budgetRefusal = newHoldDeadline(user, seat, now)
    if budgetRefusal then return budgetRefusal end
    count = 0
    newHold = 1
  end
  -- Offered to a waiting-room buyer (seatLib's roomOfferee): theirs to take until the window ends.
  local offeree, offerLeft = offerOf(seat, now)
  if offeree and offeree ~= user then return { E.SEAT_OFFERED, seat, offerLeft } end

  -- Nothing is written before this point: a refusal changes nothing.
  local seq, earliest = commitLocks(user, { seat }, dl, newHold, budgetStarted, now, origin)
  return { 1, seq, dl, newHold, count + 1, earliest }
end

-- Whether `user` may lock `seat` now as part of a block: known, free, not in their cool-down,
-- not offered to someone else. A seat failing any of these only rules its candidate out.
local function blockSeatFree(user, seat, now, cool)
  if redis.call('SISMEMBER', K.seatmap, seat) == 0 then return false end
  if seatState(seat, now) then return false end
  if cool and datedLeft(K.cool, pairMember(user, seat), now) > 0 then return false end
  local offeree = offerOf(seat, now)
  return not offeree or offeree == user
end

-- Splits `s` on `sep` (seat ids never contain ' ' or ',': SEAT_ID_RE in libs/protocol).
local function splitOn(s, sep)
  local out = {}
  for part in string.gmatch(s, '[^' .. sep .. ']+') do out[#out + 1] = part end
  return out
end

--[[
  Best-available: locks ONE of the candidate blocks (ranked by the caller, best first), all its
  seats or none, into the caller's hold. `candidates` is the blocks joined by ',', each its seats
  joined by ' ' (the caller's ranking of the layout: libs/seats/src/block-finder.ts). Every lock
  rule applies once for the block (sales, hold limit for all its seats, per-user limit, budget);
  each seat must be free for the caller (lockOne's seat checks); the first candidate passing them
  all is locked. A race lost on one candidate costs no round trip: the next is tried here.
    {1, seq, deadline, newHold(1|0), seatsInHold, earliest(1|0), index of the block locked (1-based)}
    {code}: lockOne's gate refusals, HOLD_BUDGET, or NO_BLOCK (no candidate was wholly free)
]]
local function lockBlock(user, candidates, origin)
  if not eventLoaded() then return { E.UNKNOWN_EVENT } end
  local blocks = {}
  for i, b in ipairs(splitOn(candidates, ',')) do blocks[i] = splitOn(b, ' ') end
  local n = #blocks[1]
  local now = nowMs()
  local refused, dl, count = lockGate(user, n, now)
  if refused then return refused end
  local newHold, budgetStarted = 0, false
  if not dl then
    local budgetRefusal
    dl, budgetStarted, budgetRefusal = newHoldDeadline(user, blocks[1][1], now)
    if budgetRefusal then return budgetRefusal end
    count = 0
    newHold = 1
  end
  local cool = setting('cool', 0) > 0
  for b = 1, #blocks do
    local seats, free = blocks[b], true
    for i = 1, #seats do
      if not blockSeatFree(user, seats[i], now, cool) then
        free = false
        break
      end
    end
    if free then
      local seq, earliest = commitLocks(user, seats, dl, newHold, budgetStarted, now, origin)
      return { 1, seq, dl, newHold, count + n, earliest, b }
    end
  end
  return { E.NO_BLOCK }
end

local function unlockOne(user, seat, origin)
  if not eventLoaded() then return { E.UNKNOWN_EVENT } end
  if redis.call('SISMEMBER', K.seatmap, seat) == 0 then return { E.UNKNOWN_SEAT } end
  local now = nowMs()

  local current = seatState(seat, now)
  if not current then return { E.ALREADY_UNLOCKED } end
  if current ~= 'L|' .. user then return { E.NOT_YOURS } end

  redis.call('HDEL', K.state, seat)
  local cool = setting('cool', 0)
  if cool > 0 then redis.call('ZADD', K.cool, now + cool, pairMember(user, seat)) end
  local h = getHold(user)
  withoutSeat(h, seat)
  local left = #h.s
  if left == 0 then dropHold(user) else putHold(user, h) end
  local seq = emit({ { t = 'unlocked', seat = seat, u = user, why = 'unlocked' } }, origin)
  return { 1, seq, left }
end
