--[[
  Makes the event's reserved and paid seats match PostgreSQL, the system of record: used after Redis
  lost its data (flush, failover) and on demand. Locks are kept unless PostgreSQL says the seat is
  sold; the per-user ordered counts are recomputed. Every change is emitted, so watchers follow.

  Input:
    KEYS[1] meta hash of the event
    ARGV[1] key base of the event
    ARGV[2..] pairs: seat id, wanted state (`R|<order>|<user>` or `P|<order>|<user>`)

  Output: {changes}
]]
--- @include "seatLib"

if redis.call('EXISTS', K.meta) == 0 then return { E.UNKNOWN_EVENT } end
local want = {}
for i = 2, #ARGV, 2 do want[ARGV[i]] = ARGV[i + 1] end
local events = {}
local flat = redis.call('HGETALL', K.state)
for i = 1, #flat, 2 do
  local seat, v = flat[i], flat[i + 1]
  local kind = string.sub(v, 1, 1)
  if kind ~= 'L' and want[seat] ~= v then
    redis.call('HDEL', K.state, seat)
    events[#events + 1] = { t = (kind == 'P') and 'unpaid' or 'unreserved', seat = seat, why = 'rebuild' }
  end
end
for i = 2, #ARGV, 2 do
  local seat, v = ARGV[i], ARGV[i + 1]
  local current = redis.call('HGET', K.state, seat)
  if current ~= v then
    if current and string.sub(current, 1, 2) == 'L|' then takeSeatFromHold(string.sub(current, 3), seat) end
    redis.call('HSET', K.state, seat, v)
    events[#events + 1] = { t = (string.sub(v, 1, 1) == 'P') and 'paid' or 'reserved', seat = seat, why = 'rebuild' }
  end
end
redis.call('DEL', K.ordered)
for i = 2, #ARGV, 2 do
  local _, _, user = parseTaken(ARGV[i + 1])
  addOrdered(user, 1)
end
emit(events, '')
return { #events }
