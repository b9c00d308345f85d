--[[
  The draw, in three steps under one token, so a node that dies half way leaves nothing applied: the
  next lease holder begins again. The order itself (HMAC-SHA256 keyed by the seed) is computed by
  the node (WaitingRooms.draw): Redis's Lua has no SHA-256.

  Input: KEYS the room's keys (roomLib); ARGV[1] event key base, ARGV[2] step, ARGV[3] token, then
    begin:  nothing                       → {'ok', seed} or {'drawn'} (already done) or {'lost'}
    stage:  pairs place, user id          → {'ok'} or {'stale'} (another draw took over)
    commit: number of entrants staged     → {'ok', next place} or {'stale'}
  Commit moves the staged queue in, then appends who arrived while the draw ran (`late`, in
  arrival order) and marks the room drawn.
]]
--- @include "roomLib"

local step, token = ARGV[2], ARGV[3]
local m = readMeta()
if not m then return { 'lost' } end
if m.drawn then return { 'drawn' } end
if step == 'begin' then
  redis.call('HSET', K.meta, 'drawToken', token)
  redis.call('DEL', K.drawQueue)
  return { 'ok', redis.call('HGET', K.meta, 'seed') }
end
if redis.call('HGET', K.meta, 'drawToken') ~= token then return { 'stale' } end
if step == 'stage' then
  for i = 4, #ARGV - 1, 2 do redis.call('ZADD', K.drawQueue, tonumber(ARGV[i]), ARGV[i + 1]) end
  return { 'ok' }
end
local n = tonumber(ARGV[4])
local nextPlace = math.max(n, num(redis.call('HGET', K.meta, 'next'), 0))
if n > 0 then redis.call('ZUNIONSTORE', K.queue, 2, K.queue, K.drawQueue, 'AGGREGATE', 'MIN') end
for _, user in ipairs(redis.call('ZRANGE', K.late, 0, -1)) do
  if not redis.call('ZSCORE', K.queue, user) then
    nextPlace = nextPlace + 1
    redis.call('ZADD', K.queue, nextPlace, user)
  end
end
redis.call('DEL', K.late, K.pre, K.drawQueue)
redis.call('HSET', K.meta, 'drawn', 1, 'next', nextPlace, 'drawnAt', nowMs())
redis.call('HDEL', K.meta, 'drawToken')
return { 'ok', nextPlace }
