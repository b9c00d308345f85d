--[[
  Applies a batch of lock, unlock and best-available (block) transitions of one event, in order, each with exactly the rules
  and refusals of a call of its own (includes/transitions.lua): group commit. A node
  sends one call per event while the previous one is in flight, carrying everything its buyers asked
  for meanwhile (SeatService's TransitionBatcher); a lone transition is a batch of one.

  Atomic like every script: a node killed while the call is in flight leaves the whole batch
  applied or none of it. The batch's events take contiguous sequence numbers, each is logged as
  before, and ONE publish carries them all, each with the origin of the transition that caused it
  (seatLib's beginBatch/endBatch), so fan-out still tells every author apart.

  Input:
    KEYS the event's keys, in the order of SEAT_SCRIPT_KEYS (libs/redis/src/keys.ts; seatLib's K)
    ARGV[1..] one group of four per transition: op (`lock` | `unlock` | `block`), user id, seat id
              (for `block`: the ranked candidate blocks, see lockBlock in includes/transitions.lua),
              origin tag (`<nodeId>:<connId>`, or '')

  Output:
    one reply per transition, in order: lockOne's, unlockOne's or lockBlock's (includes/transitions.lua)
    an error reply, before anything is changed, when the arguments are not groups of four, an op
    is none of the three, or a `block` names no candidate (a bug in the caller, never a buyer's input)
]]
--- @include "seatLib"
--- @include "transitions"

local n = #ARGV / 4
if n < 1 or n ~= math.floor(n) then return redis.error_reply('seatTransitions: expected groups of op, user, seat, origin') end
for i = 0, n - 1 do
  local op = ARGV[1 + 4 * i]
  if op ~= 'lock' and op ~= 'unlock' and op ~= 'block' then return redis.error_reply('seatTransitions: unknown op ' .. tostring(op)) end
  if op == 'block' and not string.find(ARGV[3 + 4 * i], '[^ ,]') then return redis.error_reply('seatTransitions: a block names no candidate') end
end

beginBatch()
local out = {}
for i = 0, n - 1 do
  local at = 1 + 4 * i
  if ARGV[at] == 'lock' then
    out[i + 1] = lockOne(ARGV[at + 1], ARGV[at + 2], ARGV[at + 3])
  elseif ARGV[at] == 'block' then
    out[i + 1] = lockBlock(ARGV[at + 1], ARGV[at + 2], ARGV[at + 3])
  else
    out[i + 1] = unlockOne(ARGV[at + 1], ARGV[at + 2], ARGV[at + 3])
  end
end
endBatch()
return out
