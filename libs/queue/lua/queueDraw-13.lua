--[[
  The draw, in three steps under one token, so a node that dies half way leaves nothing applied: the
  next lease holder begins again. The order itself (HMAC-SHA256 keyed by the seed) is computed by
  the node (WaitingRooms.draw): Redis's Lua has no SHA-256.

  Input: KEYS the room's keys (roomLib); ARGV[1] step, ARGV[2] token,
         ARGV[3] node id, ARGV[4] lease ms, then
    begin:  nothing                       → {'ok', seed} or {'drawn'} (already done) or {'lost'}
            or {'busy'} (another node holds the room's lease)
    stage:  pairs place, user id          → {'ok'} or {'stale'} (another draw took over)
    commit: number of entrants staged     → {'ok', next place} or {'stale'}
  Every step holds the room's lease for ARGV[4] ms: a draw of 100,000 takes seconds (reading, hashing,
  PostgreSQL), far longer than a tick's lease, and another node taking the lease meanwhile would start
  a draw of its own and void this one, and so on for ever. A node that dies mid-draw lets the lease
  run out, and the next holder begins again.
  Commit moves the staged queue in, then appends who arrived while the draw ran (`late`, in
  arrival order) and marks the room drawn.
]]
--- @include "roomLib"

local step, token, node, leaseMs = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local m = readMeta()
if not m then return { 'lost' } end
if m.drawn then return { 'drawn' } end
local holder = redis.call('GET', K.lease)
if holder and holder ~= node then return { step == 'begin' and 'busy' or 'stale' } end
redis.call('SET', K.lease, node, 'PX', leaseMs)
if step == 'begin' then
  redis.call('HSET', K.meta, 'drawToken', token)
  redis.call('DEL', K.drawQueue)
  return { 'ok', redis.call('HGET', K.meta, 'seed') }
end
if redis.call('HGET', K.meta, 'drawToken') ~= token then return { 'stale' } end
if step == 'stage' then
  for i = 5, #ARGV - 1, 2 do redis.call('ZADD', K.drawQueue, tonumber(ARGV[i]), ARGV[i + 1]) end
  return { 'ok' }
end
local n = tonumber(ARGV[5])
local nextPlace = math.max(n, num(redis.call('HGET', K.meta, 'next'), 0))
-- The staged queue moves in whole (O(1)); merged only if someone was put back meanwhile.
if n > 0 then
  if redis.call('EXISTS', K.queue) == 0 then
    redis.call('RENAME', K.drawQueue, K.queue)
  else
    redis.call('ZUNIONSTORE', K.queue, 2, K.queue, K.drawQueue, 'AGGREGATE', 'MIN')
  end
end
for _, user in ipairs(redis.call('ZRANGE', K.late, 0, -1)) do
  if not redis.call('ZSCORE', K.queue, user) then
    nextPlace = nextPlace + 1
    redis.call('ZADD', K.queue, nextPlace, user)
  end
end
-- UNLINK: a pre-queue of 100,000 is freed in the background, not inside this call.
redis.call('UNLINK', K.late, K.pre, K.drawQueue)
redis.call('HSET', K.meta, 'drawn', 1, 'next', nextPlace, 'drawnAt', nowMs())
redis.call('HDEL', K.meta, 'drawToken')
-- The lease goes, so the next tick (any node's) admits at once.
redis.call('DEL', K.lease)
return { 'ok', nextPlace }
