--[[
  Puts back what Redis lost of a room (a restart, a failover), from what the nodes that hold the
  waiters' sockets remember: places in the queue with their numbers (so the order across nodes is
  the one before), admissions with their turn's end, pre-queue entrants. Never moves an entry that
  exists. A room that has not been drawn takes queue entries into the pre-queue (they are drawn
  again with the same seed, which keeps their order among themselves).

  Input: KEYS the room's keys (roomLib); ARGV[1] kind (queue | admitted | pre),
         ARGV[2..] pairs user id, number (place, turn end, or arrival ms)
  Output: {'lost'} or {'ok', entries restored}
]]
--- @include "roomLib"

local m = readMeta()
if not m then return { 'lost' } end
local now = nowMs()
local ph = phase(m, now)
-- Before the pre-queue opens and after the room closes there is nothing to hold a place in.
if ph == 'not_open' or ph == 'closed' then return { 'ok', 0 } end
local kind, restored, top = ARGV[1], 0, 0
for i = 2, #ARGV - 1, 2 do
  local user, n = ARGV[i], tonumber(ARGV[i + 1])
  redis.call('ZADD', K.seen, now, user)
  if kind == 'admitted' then
    if n > now then restored = restored + redis.call('ZADD', K.admitted, 'NX', n, user) end
  elseif kind == 'queue' and m.drawn then
    if not redis.call('ZSCORE', K.admitted, user) then
      restored = restored + redis.call('ZADD', K.queue, 'NX', n, user)
      if n > top then top = n end
    end
  else
    restored = restored + redis.call('HSETNX', K.pre, user, now)
  end
end
if top > num(redis.call('HGET', K.meta, 'next'), 0) then redis.call('HSET', K.meta, 'next', top) end
return { 'ok', restored }
