--[[
  Installs a room's settings in Redis from PostgreSQL (`events.waiting_room` and the event's sales
  times), or updates the settings of a room Redis has (an edit, an operator's pause or cap).

  Input: KEYS the room's keys (roomLib); ARGV[1] event key base, ARGV[2] mode (create | update),
         ARGV[3] epoch for a new room, ARGV[4] 1 when PostgreSQL already has the room's draw,
         ARGV[5] how long a room re-created after its draw admits nobody (ms), ARGV[6..] field, value pairs (opensAt, salesOpenAt, closesAt, turnMs, maxActive, powBits,
         paused, offerMs, seed, commitment, challenge)
  Output: {'created'} (a new epoch) | {'updated'} | {'exists'} (create found it) | {'absent'} (update found none)

  A room re-created after Redis lost it while running (its draw is in PostgreSQL) starts its
  numbering far above any place it gave before, so the places nodes restore (queueRestore) stay
  ahead of everyone who joins anew, and admits nobody for ARGV[5] ms (`restoreUntil`): every node
  puts its waiters back within a position interval, and a tick between two nodes' restores would
  otherwise admit past someone whose node had not restored them yet.
]]
--- @include "roomLib"

local mode = ARGV[2]
local exists = redis.call('EXISTS', K.meta) == 1
if mode == 'update' and not exists then return { 'absent' } end
if mode == 'create' and exists then return { 'exists' } end
for i = 6, #ARGV - 1, 2 do redis.call('HSET', K.meta, ARGV[i], ARGV[i + 1]) end
if mode == 'update' then return { 'updated' } end
redis.call('HSET', K.meta, 'epoch', ARGV[3], 'next', ARGV[4] == '1' and 1000000000 or 0)
if ARGV[4] == '1' then redis.call('HSET', K.meta, 'drawn', 1, 'restoreUntil', nowMs() + tonumber(ARGV[5])) end
return { 'created' }
