--[[
  Releases, among a slice of the event's holds, those whose user has had no live connection for
  the grace period (and those past their deadline). The worker walks every event with holds in
  slices: a ws-node killed with -9 never says its users left, so nothing else would notice; their
  holds go a grace after the dead node's last liveness window ran out.

  Input:
    KEYS the event's keys, in the order of SEAT_SCRIPT_KEYS (libs/redis/src/keys.ts; seatLib's K)
    ARGV[1] first rank of the slice in the deadline index (0-based)
    ARGV[2] slice size

  Output: {released holds, next rank (0 when the walk is done)}
    Released holds leave the index, so the next slice starts that many ranks earlier; a hold
    skipped because ranks shifted is seen on the next walk.
]]
--- @include "seatLib"

local from, size = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = nowMs()
local users = redis.call('ZRANGE', K.holds, from, from + size - 1)
local released = 0
local events = {}
for i = 1, #users do
  local user = users[i]
  local h = getHold(user)
  if not h then
    redis.call('ZREM', K.holds, user) -- an index entry without its hold (manual edit): drop it
    released = released + 1
  elseif h.dl <= now then
    releaseHold(user, 'expired', '', events)
    released = released + 1
  elseif isAbandoned(user, h.c, now) then
    releaseHold(user, 'abandoned', '', events)
    released = released + 1
  end
end
emit(events, '')
if #users < size then return { released, 0 } end
return { released, from + size - released }
