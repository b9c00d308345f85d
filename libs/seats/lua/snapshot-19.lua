--[[
  The event's seat states and the caller's hold, atomically with the sequence number they
  correspond to. Stale locks (expired holds) are released first, so a snapshot never shows a
  seat as locked by a hold that is already dead.

  Input:
    KEYS the event's keys, in the order of SEAT_SCRIPT_KEYS (libs/redis/src/keys.ts; seatLib's K)
    ARGV[1] user id, or '' for an anonymous watcher

  Output:
    {seq, flatState, holdDeadline, holdExtensionsLeft, holdSeats, epoch}
      flatState: {seat1, state1, seat2, state2, ...} for non-available seats only,
      state 'L|user' | 'R|ref' | 'P|ref'; holdDeadline 0 when the caller has no hold
    {code}: UNKNOWN_EVENT
]]
--- @include "seatLib"

local user = ARGV[1]
if not eventLoaded() then return { E.UNKNOWN_EVENT } end
local now = nowMs()
local due = redis.call('ZRANGEBYSCORE', K.holds, '-inf', now)
for i = 1, #due do releaseHold(due[i], 'expired', '') end

local dl, ext, seats = 0, 0, {}
if user ~= '' then
  local d, e = liveHold(user, now)
  if d then
    dl = d
    ext = setting('maxExt', 2) - e
    seats = holdSeats(getHold(user))
  end
end
-- A lock whose hold is gone (released, or lost) is not shown: check each owner once.
local flat = redis.call('HGETALL', K.state)
local alive, cleaned = {}, false
for i = 1, #flat, 2 do
  local v = flat[i + 1]
  if string.sub(v, 1, 2) == 'L|' then
    local owner = string.sub(v, 3)
    if alive[owner] == nil then alive[owner] = liveHold(owner, now) ~= nil end
    if not alive[owner] and redis.call('HGET', K.state, flat[i]) == v then
      redis.call('HDEL', K.state, flat[i])
      emit({ { t = 'unlocked', seat = flat[i], u = owner, why = 'expired' } }, '')
      cleaned = true
    end
  end
end
if cleaned then flat = redis.call('HGETALL', K.state) end
return { tonumber(redis.call('GET', K.seq) or '0'), flat, dl, ext, seats, redis.call('HGET', K.meta, 'epoch') or '' }
