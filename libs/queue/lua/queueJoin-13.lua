--[[
  A signed-in user joins (or comes back to) an event's waiting room. One place per user: a second
  tab, another device or a reconnect finds the same entry.

  Input: KEYS the room's keys (roomLib); ARGV[1] user id
  Output:
    {'lost'}                      Redis does not have the room (load it, then call again)
    {phase, epoch, rank, place, until}
      phase  not_open | pre_queue | closed: no place (in the pre-queue the user is an entrant of the draw)
             draw_due: the draw is running; the user joins after the pre-queue's entrants
             admitted: `until` is the end of the user's turn
             running | sold_out: `rank` (0-based, people ahead) and `place` (the queue's number)
]]
--- @include "roomLib"

local user = ARGV[1]
local m = readMeta()
if not m then return { 'lost' } end
local now = nowMs()
local ph = phase(m, now)
if ph == 'not_open' or ph == 'closed' then return { ph, m.epoch, -1, 0, 0 } end
redis.call('ZADD', K.seen, now, user)
local untilMs = tonumber(redis.call('ZSCORE', K.admitted, user) or '0')
if untilMs > now then return { 'admitted', m.epoch, -1, 0, untilMs } end
if ph == 'pre_queue' then
  redis.call('HSETNX', K.pre, user, now)
  return { ph, m.epoch, -1, 0, 0 }
end
if ph == 'draw_due' then
  if redis.call('HEXISTS', K.pre, user) == 0 and not redis.call('ZSCORE', K.late, user) then
    redis.call('ZADD', K.late, redis.call('HINCRBY', K.meta, 'lateN', 1), user)
  end
  return { ph, m.epoch, -1, 0, 0 }
end
local place = redis.call('ZSCORE', K.queue, user)
if not place then
  place = redis.call('HINCRBY', K.meta, 'next', 1)
  redis.call('ZADD', K.queue, place, user)
end
return { ph, m.epoch, redis.call('ZRANK', K.queue, user), tonumber(place), 0 }
