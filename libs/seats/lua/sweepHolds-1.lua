--[[
  The safety net behind the per-hold jobs: releases every hold of the event whose deadline has
  passed, at most ARGV[2] of them per call.

  Input:
    KEYS[1] meta hash of the event
    ARGV[1] key base of the event
    ARGV[2] limit

  Output: number of holds released
]]
--- @include "seatLib"

local now = nowMs()
local due = redis.call('ZRANGEBYSCORE', K.holds, '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #due do releaseHold(due[i], 'expired', '') end
return #due
