--[[
  Where a node's waiters stand, read once per QUEUE_POSITION_MS for all of them; it also vouches that
  they still have a socket on the topic (`seen`), so their places are not given up.

  Input: KEYS the room's keys (roomLib); ARGV[1..] user ids
  Output:
    {'lost'}  Redis does not have the room
    {phase, epoch, rate (admissions per minute), free seats, seats per buyer (x1000), r1, x1, r2, x2, …}
      per user: r >= 0 the people ahead (x = the place's number); r = -2 admitted (x = the turn's
      end); r = -1 an entrant of the pre-queue (or of the draw running); r = -3 unknown to the room
      (given up, turn ended, or lost by Redis: the node decides whether to put the user back)
]]
--- @include "roomLib"

local m = readMeta()
if not m then return { 'lost' } end
local now = nowMs()
local out = { phase(m, now), m.epoch, math.floor(m.rate * 60 + 0.5), m.free, math.floor(m.avg * 1000) }
for i = 1, #ARGV do
  local user = ARGV[i]
  redis.call('ZADD', K.seen, now, user)
  local rank = redis.call('ZRANK', K.queue, user)
  if rank then
    out[#out + 1] = rank
    out[#out + 1] = tonumber(redis.call('ZSCORE', K.queue, user))
  else
    local untilMs = tonumber(redis.call('ZSCORE', K.admitted, user) or '0')
    if untilMs > now then
      out[#out + 1] = -2
      out[#out + 1] = untilMs
    elseif redis.call('HEXISTS', K.pre, user) == 1 or redis.call('ZSCORE', K.late, user) then
      out[#out + 1] = -1
      out[#out + 1] = 0
    else
      out[#out + 1] = -3
      out[#out + 1] = 0
    end
  end
end
return out
