--[[
  Makes the event's reserved and paid seats match PostgreSQL, the system of record: after Redis
  lost its data (flush, failover), on demand, and every minute as a reconciliation. Locks are kept
  unless PostgreSQL says the seat is sold. Two kinds of reserved or paid seats PostgreSQL does not
  know are kept too: the legacy seat dialect's service states (ref `svc`, which live in Redis only) and seats
  of an order still being written (its member of `pending`, set by reserveHold, has not lapsed); an
  order that never reached PostgreSQL loses its seats once its marker is gone. The per-user ordered
  counts are recomputed. Every change is emitted, so watchers follow. The PostgreSQL read may be
  older than Redis: an order that gave its seats back since (its member of `done`) is not
  restored, and a seat its order paid since is not set back to reserved.

  Input:
    KEYS the event's keys, in the order of SEAT_SCRIPT_KEYS (libs/redis/src/keys.ts; seatLib's K)
    ARGV[1..] pairs: seat id, wanted state (`R|<order>|<user>` or `P|<order>|<user>`)

  Output: {changes}
]]
--- @include "seatLib"

if not eventLoaded() then return { E.UNKNOWN_EVENT } end
local now = nowMs()
local want = {}
for i = 1, #ARGV, 2 do want[ARGV[i]] = ARGV[i + 1] end
local events = {}
local flat = redis.call('HGETALL', K.state)
for i = 1, #flat, 2 do
  local seat, v = flat[i], flat[i + 1]
  local kind = string.sub(v, 1, 1)
  if kind ~= 'L' and want[seat] ~= v and not want[seat] then
    local _, ref = parseTaken(v)
    if ref ~= 'svc' and datedLeft(K.pendingOrders, ref, now) == 0 then
      redis.call('HDEL', K.state, seat)
      events[#events + 1] = { t = (kind == 'P') and 'unpaid' or 'unreserved', seat = seat, why = 'rebuild' }
    end
  end
end
for i = 1, #ARGV, 2 do
  local seat, v = ARGV[i], ARGV[i + 1]
  local current = redis.call('HGET', K.state, seat)
  local wkind, wref = parseTaken(v)
  local stale = datedLeft(K.doneOrders, wref, now) > 0
  if not stale and current and wkind == 'R' and string.sub(current, 1, 1) == 'P' then
    local _, cref = parseTaken(current)
    stale = cref == wref -- paid since PostgreSQL was read: later than the snapshot's reserved
  end
  if current ~= v and not stale then
    if current and string.sub(current, 1, 2) == 'L|' then takeSeatFromHold(string.sub(current, 3), seat) end
    redis.call('HSET', K.state, seat, v)
    events[#events + 1] = { t = (string.sub(v, 1, 1) == 'P') and 'paid' or 'reserved', seat = seat, why = 'rebuild' }
  end
end
redis.call('DEL', K.ordered)
local final = redis.call('HGETALL', K.state)
for i = 1, #final, 2 do
  if string.sub(final[i + 1], 1, 1) ~= 'L' then
    local _, _, user = parseTaken(final[i + 1])
    addOrdered(user, 1)
  end
end
emit(events, '')
return { #events }
