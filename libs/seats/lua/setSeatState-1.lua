--[[
  The backend transitions of seed 000 (`reserve`, `unreserve`, `pay`, `revoke`), made by a
  trusted service. A seat locked by a user's hold leaves that hold when it is reserved or paid.

  Input:
    KEYS[1] meta hash of the event
    ARGV[1] key base of the event
    ARGV[2] seat id
    ARGV[3] action: 'reserve' | 'unreserve' | 'pay' | 'revoke'
    ARGV[4] reference stored with the state (order id, or 'svc')
    ARGV[5] origin tag, or ''

  Output:
    {1, seq, eventType}
    {code}: UNKNOWN_EVENT, UNKNOWN_SEAT, ALREADY_RESERVED, NOT_RESERVED, ALREADY_PAID, SEAT_UNAVAILABLE
]]
--- @include "seatLib"

local seat, action, ref, origin = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', K.meta) == 0 then return { E.UNKNOWN_EVENT } end
if redis.call('SISMEMBER', K.seatmap, seat) == 0 then return { E.UNKNOWN_SEAT } end
local now = nowMs()
local current = seatState(seat, now)
local kind = current and string.sub(current, 1, 1) or nil

local function takeFromHold()
  if kind == 'L' then
    local owner = string.sub(current, 3)
    redis.call('SREM', holdSeatsKey(owner), seat)
    redis.call('DEL', lockKey(seat))
    if redis.call('SCARD', holdSeatsKey(owner)) == 0 then
      redis.call('DEL', holdKey(owner), holdSeatsKey(owner))
      redis.call('ZREM', K.holds, owner)
    end
  end
end

local ev
if action == 'reserve' then
  if kind == 'R' then return { E.ALREADY_RESERVED } end
  if kind == 'P' then return { E.SEAT_UNAVAILABLE } end
  takeFromHold()
  redis.call('HSET', K.state, seat, 'R|' .. ref)
  ev = { t = 'reserved', seat = seat }
elseif action == 'pay' then
  if kind == 'P' then return { E.ALREADY_PAID } end
  takeFromHold()
  redis.call('HSET', K.state, seat, 'P|' .. ref)
  ev = { t = 'paid', seat = seat }
elseif action == 'unreserve' then
  if kind ~= 'R' then return { E.NOT_RESERVED } end
  redis.call('HDEL', K.state, seat)
  ev = { t = 'unreserved', seat = seat }
elseif action == 'revoke' then
  if kind ~= 'R' and kind ~= 'P' then return { E.NOT_RESERVED } end
  redis.call('HDEL', K.state, seat)
  ev = { t = (kind == 'P') and 'unpaid' or 'unreserved', seat = seat, why = 'revoked' }
else
  return redis.error_reply('unknown action ' .. tostring(action))
end
local seq = emit({ ev }, origin)
return { 1, seq, ev.t }
