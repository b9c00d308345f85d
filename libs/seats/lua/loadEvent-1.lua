--[[
  Installs or refreshes an event's seat map and settings. Existing seat states, holds, sequence
  and log are kept, so reloading a live event (on API writes, on worker start) is harmless.
  A new `epoch` is written only when the meta hash did not exist: it tells nodes that Redis
  lost the event and their sequence numbers no longer apply.

  Input:
    KEYS[1] meta hash of the event
    ARGV[1] key base of the event
    ARGV[2] ttl ms, ARGV[3] max seats per hold, ARGV[4] grace ms, ARGV[5] max extensions,
    ARGV[6] log cap, ARGV[7] epoch to use when the event is new,
    ARGV[8] sales open (ms, 0 = always), ARGV[9] sales close (ms, 0 = never), ARGV[10] seats per user (0 = no limit)
    ARGV[11..] seat ids (the whole map; seats not listed are removed from the map)

  Output: {epoch, seatCount, isNew (1 when the event was not in Redis: its sold seats must be rebuilt)}
]]
--- @include "seatLib"

local existing = redis.call('HGET', K.meta, 'epoch')
local epoch = existing or ARGV[7]
redis.call('HSET', K.meta, 'ttl', ARGV[2], 'max', ARGV[3], 'grace', ARGV[4], 'maxExt', ARGV[5], 'logMax', ARGV[6], 'epoch', epoch,
  'opensAt', ARGV[8], 'closesAt', ARGV[9], 'maxUser', ARGV[10])
local tmp = base .. 'seatmap:loading'
redis.call('DEL', tmp)
local n = #ARGV
local i = 11
while i <= n do
  local j = math.min(i + 4999, n)
  redis.call('SADD', tmp, unpack(ARGV, i, j))
  i = j + 1
end
if n >= 11 then
  redis.call('RENAME', tmp, K.seatmap)
else
  redis.call('DEL', K.seatmap)
end
return { epoch, redis.call('SCARD', K.seatmap), existing and 0 or 1 }
