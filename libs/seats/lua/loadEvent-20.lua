--[[
  Installs or refreshes an event's seat map and settings. Existing seat states, holds, sequence
  and log are kept, so reloading a live event (on API writes, on worker start) is harmless.
  A new `epoch` is written only when the meta hash did not exist: it tells nodes that Redis
  lost the event and their sequence numbers no longer apply.

  A big map (100,000 seats) does not fit one call's arguments comfortably, so the caller may send
  the seat ids in several calls under one load token: `stage` calls add ids to a staging set (KEYS[20],
  `seatmapStaging(token)` of libs/redis/src/keys.ts, expiring after a minute if the load dies), and the
  final `commit` call adds its own ids, writes the settings and swaps the staged set in as the map.
  The token keeps two loaders of one event from mixing their staged ids.

  Input:
    KEYS[1..19] the event's keys, in the order of SEAT_SCRIPT_KEYS (libs/redis/src/keys.ts; seatLib's K)
    KEYS[20] the staging set of this load's token
    ARGV[1] ttl ms, ARGV[2] max seats per hold, ARGV[3] grace ms, ARGV[4] max extensions,
    ARGV[5] log cap, ARGV[6] epoch to use when the event is new,
    ARGV[7] sales open (ms, 0 = always), ARGV[8] sales close (ms, 0 = never), ARGV[9] seats per user (0 = no limit)
    ARGV[10] sales paused by an admin (1) or not (0): PostgreSQL's `sales_paused_at`, so a Redis
      that lost the event gets the freeze back with it
    ARGV[11] phase: 'stage' | 'commit'
    ARGV[12..] seat ids (over all calls of one token: the whole map; seats not listed are removed from the map)

  Output:
    stage:  {0}
    commit: {epoch, seatCount, isNew (1 when the event was not in Redis: its sold seats must be rebuilt)}
]]
--- @include "seatLib"

local tmp = KEYS[20]
local n = #ARGV
local i = 12
while i <= n do
  local j = math.min(i + 4999, n)
  redis.call('SADD', tmp, unpack(ARGV, i, j))
  i = j + 1
end
if ARGV[11] == 'stage' then
  redis.call('PEXPIRE', tmp, 60000)
  return { 0 }
end

local existing = redis.call('HGET', K.meta, 'epoch')
local epoch = existing or ARGV[6]
redis.call('HSET', K.meta, 'ttl', ARGV[1], 'max', ARGV[2], 'grace', ARGV[3], 'maxExt', ARGV[4], 'logMax', ARGV[5], 'epoch', epoch,
  'opensAt', ARGV[7], 'closesAt', ARGV[8], 'maxUser', ARGV[9], 'paused', ARGV[10])
if redis.call('EXISTS', tmp) == 1 then
  redis.call('PERSIST', tmp)
  redis.call('RENAME', tmp, K.seatmap)
else
  redis.call('DEL', K.seatmap)
end
return { epoch, redis.call('SCARD', K.seatmap), existing and 0 or 1 }
