-- Shared by every waiting-room script: the keys (all declared in KEYS, in this order, by
-- src/room-scripts.ts), Redis's clock, and the room's phase.
local K = {
  meta = KEYS[1], pre = KEYS[2], late = KEYS[3], queue = KEYS[4], admitted = KEYS[5], seen = KEYS[6],
  lease = KEYS[7], seatmap = KEYS[8], state = KEYS[9], holds = KEYS[10], ordered = KEYS[11], drawQueue = KEYS[12],
  holdInfo = KEYS[13],
}

-- How many seats `user` holds on the event (their field of the seat scripts' `holdInfo`, seatLib's getHold).
local function holdSize(user)
  local raw = redis.call('HGET', K.holdInfo, user)
  if not raw then return 0 end
  return #cjson.decode(raw).s
end

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function num(v, d)
  return tonumber(v) or d
end

-- The room's meta hash, or nil when Redis does not have the room (never loaded, or lost).
local function readMeta()
  local v = redis.call('HMGET', K.meta, 'epoch', 'opensAt', 'salesOpenAt', 'closesAt', 'drawn', 'soldOut', 'turnMs', 'maxActive', 'paused', 'rate', 'free', 'avg')
  if not v[1] then return nil end
  return {
    epoch = v[1], opensAt = num(v[2], 0), salesOpenAt = num(v[3], 0), closesAt = num(v[4], 0), drawn = v[5] == '1',
    soldOut = v[6] == '1', turnMs = num(v[7], 600000), maxActive = num(v[8], 0), paused = v[9] == '1',
    rate = num(v[10], 0), free = num(v[11], 0), avg = num(v[12], 0),
  }
end

-- not_open | pre_queue | draw_due (sales are open, the draw has not run yet) | running | sold_out | closed
local function phase(m, now)
  if m.closesAt > 0 and now >= m.closesAt then return 'closed' end
  if now < m.opensAt then return 'not_open' end
  if not m.drawn then
    if now < m.salesOpenAt then return 'pre_queue' end
    return 'draw_due'
  end
  if m.soldOut then return 'sold_out' end
  return 'running'
end
