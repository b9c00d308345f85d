--[[
  Moves a seat between reserved, paid and available: the legacy seat dialect's backend actions (`reserve`,
  `unreserve`, `pay`, `revoke`, made by a trusted service) and the order flow (pay, cancel, expire,
  refund). A seat locked by a user's hold leaves that hold when it is reserved or paid.

  Input:
    KEYS the event's keys, in the order of SEAT_SCRIPT_KEYS (libs/redis/src/keys.ts; seatLib's K)
    ARGV[1] seat id
    ARGV[2] action: 'reserve' | 'unreserve' | 'pay' | 'revoke'
    ARGV[3] reference stored with the state (order id, or 'svc')
    ARGV[4] origin tag, or ''
    ARGV[5] '1' = fenced: the seat's current reference must equal ARGV[3] (an order only ever
            moves its own seats), '' = not fenced (the legacy dialect's service actions)
    ARGV[6] user id the seat is reserved or paid for, or ''
    ARGV[7] why, recorded on the event (e.g. 'revoked', 'refunded', 'expired', 'canceled'), or ''

  Output:
    {1, seq, eventType}
    {code}: UNKNOWN_EVENT, UNKNOWN_SEAT, ALREADY_RESERVED, NOT_RESERVED, ALREADY_PAID, SEAT_UNAVAILABLE,
            WRONG_ORDER (fenced, and the seat belongs to another reference)
]]
--- @include "seatLib"

local seat, action, ref, origin, fenced, forUser, why = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6] or '', ARGV[7] or ''
if not eventLoaded() then return { E.UNKNOWN_EVENT } end
if redis.call('SISMEMBER', K.seatmap, seat) == 0 then return { E.UNKNOWN_SEAT } end
local now = nowMs()
local current = seatState(seat, now)
local kind, curRef, curUser = nil, nil, ''
if current then
  if string.sub(current, 1, 2) == 'L|' then kind = 'L' else kind, curRef, curUser = parseTaken(current) end
end
if fenced and (kind == 'R' or kind == 'P') and curRef ~= ref then return { E.WRONG_ORDER } end
if fenced and action ~= 'reserve' and kind ~= 'R' and kind ~= 'P' then return { E.NOT_RESERVED } end

local function takeFromHold()
  if kind == 'L' then takeSeatFromHold(string.sub(current, 3), seat) end
end

local ev
if action == 'reserve' then
  if kind == 'R' then return { E.ALREADY_RESERVED } end
  if kind == 'P' then return { E.SEAT_UNAVAILABLE } end
  takeFromHold()
  redis.call('HSET', K.state, seat, 'R|' .. ref .. '|' .. forUser)
  addOrdered(forUser, 1)
  ev = { t = 'reserved', seat = seat }
elseif action == 'pay' then
  if kind == 'P' then return { E.ALREADY_PAID } end
  takeFromHold()
  local user = forUser
  if user == '' then user = curUser end
  redis.call('HSET', K.state, seat, 'P|' .. ref .. '|' .. user)
  if kind ~= 'R' or curUser ~= user then
    addOrdered(curUser, -1)
    addOrdered(user, 1)
  end
  ev = { t = 'paid', seat = seat }
elseif action == 'unreserve' then
  if kind ~= 'R' then return { E.NOT_RESERVED } end
  redis.call('HDEL', K.state, seat)
  addOrdered(curUser, -1)
  ev = { t = 'unreserved', seat = seat }
elseif action == 'revoke' then
  if kind ~= 'R' and kind ~= 'P' then return { E.NOT_RESERVED } end
  redis.call('HDEL', K.state, seat)
  addOrdered(curUser, -1)
  ev = { t = (kind == 'P') and 'unpaid' or 'unreserved', seat = seat, why = 'revoked' }
else
  return redis.error_reply('unknown action ' .. tostring(action))
end
if why ~= '' then ev.why = why end
if fenced and (action == 'unreserve' or action == 'revoke') then
  redis.call('ZADD', K.doneOrders, now + DONE_MS, ref)
end
local seq = emit({ ev }, origin)
return { 1, seq, ev.t }
