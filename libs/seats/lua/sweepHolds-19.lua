--[[
  Releases the event's holds whose deadline has passed, at most ARGV[1] per call, and says when
  the next one falls due. This is how holds expire, with no delayed job per hold: the worker calls
  it for every event the cluster-wide index names as due, and each ws-node calls it for the events
  it watches, under a short per-event lease so one node does it per interval (expired holds must go
  even while the worker is down: docs/reliability.md, round one). It also runs seatLib's
  housekeeping, which removes lapsed cool-downs, budgets, order markers, liveness and offers.

  The cluster-wide index (`<prefix>:holds:due`, event id → a deadline no later than the event's
  earliest hold) is another key, in another Redis Cluster slot, so no seat script can write it.
  The rule that keeps it correct without cross-slot atomicity: every score in it is at most the
  event's earliest deadline. A lock whose new hold becomes the earliest lowers it afterwards
  (ZADD LT); a sweeper sets it to the `next` this script returns (or removes it) and then reads
  the event's earliest deadline again and lowers the entry to it, so a hold created while it swept
  is never lost (HoldKeeper.sweepDue). So that a lock need not read the deadline index to know
  whether it is the earliest, the meta hash's `ixd` mirrors the entry: this script sets it to
  `next` (or deletes it) and a lock whose deadline is below it lowers it and says so. Scores only ever sit early, which costs an idle sweep at
  worst; a node that died between a lock and its ZADD is covered by the worker's re-index of
  current events, by the nodes' sweeps and by every script enforcing expiry on read.

  Input:
    KEYS the event's keys, in the order of SEAT_SCRIPT_KEYS (libs/redis/src/keys.ts; seatLib's K)
    ARGV[1] limit
    ARGV[2] lease ms: 0 = sweep regardless (the worker); > 0 = sweep only if no one else holds
            the event's sweep lease, taking it for that long (ws-nodes)
    ARGV[3] lease owner (node id), when ARGV[2] > 0

  Output: {released, next deadline (0 when the event has no hold left), more (1 when the limit
          stopped it), skipped (1 when another owner held the lease)}
]]
--- @include "seatLib"

local limit, leaseMs, owner = tonumber(ARGV[1]), tonumber(ARGV[2] or '0'), ARGV[3] or ''
local now = nowMs()
local due = redis.call('ZRANGEBYSCORE', K.holds, '-inf', now, 'LIMIT', 0, limit)
if #due > 0 and leaseMs > 0 then
  -- Checked only when there is work, so an idle event costs the nodes one ZRANGEBYSCORE.
  local holder = redis.call('GET', K.sweepLease)
  if holder and holder ~= owner then return { 0, 0, 0, 1 } end
  if not holder then redis.call('SET', K.sweepLease, owner, 'PX', leaseMs) end
end
local events = {}
for i = 1, #due do releaseHold(due[i], 'expired', '', events) end
emit(events, '')
housekeeping(now)
local head = redis.call('ZRANGE', K.holds, 0, 0, 'WITHSCORES')
local nextDl = 0
if head[2] then nextDl = tonumber(head[2]) end
if nextDl > 0 then
  redis.call('HSET', K.meta, 'ixd', nextDl)
else
  redis.call('HDEL', K.meta, 'ixd')
end
local more = 0
if #due >= limit and nextDl > 0 and nextDl <= now then more = 1 end
return { #due, nextDl, more, 0 }
