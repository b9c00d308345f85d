--[[
  Gives a loaded event a new epoch, as if Redis had lost it, without losing what Redis still has:
  after a Redis Cluster failover the promoted replica may lack the last writes its master
  acknowledged (replication is asynchronous), so the history nodes and clients hold may run past
  what Redis now has. A new epoch makes every node resync its watchers from a snapshot (and each
  holder learn from it whether their hold survived); the caller then rebuilds reserved and paid
  seats from PostgreSQL (rebuildState) and announces the epoch on the channel.

  Input:
    KEYS the event's keys, in the order of SEAT_SCRIPT_KEYS (libs/redis/src/keys.ts; seatLib's K)
    ARGV[1] the new epoch

  Output: {1}, or {UNKNOWN_EVENT} when the event is not loaded (nothing to restart: the next use
  loads it from PostgreSQL with a new epoch anyway)
]]
--- @include "seatLib"

if not eventLoaded() then return { E.UNKNOWN_EVENT } end
redis.call('HSET', K.meta, 'epoch', ARGV[1])
return { 1 }
