--[[
  Installs a room's settings in Redis from PostgreSQL (`events.waiting_room` and the event's sales
  times), or updates the settings of a room Redis has (an edit, an operator's pause or cap).

  Input: KEYS the room's keys (roomLib); ARGV[1] mode (create | update),
         ARGV[2] epoch for a new room, ARGV[3] 1 when PostgreSQL already has the room's draw,
         ARGV[4] how long a room re-created after its draw admits nobody (ms), ARGV[5..] field, value pairs (opensAt, salesOpenAt, closesAt, turnMs, maxActive, powBits,
         paused, offerMs, seed, commitment, challenge)
  Output: {'created'} (a new epoch) | {'updated'} | {'exists'} (create found it) | {'absent'} (update found none)

  A room re-created after Redis lost it while running (its draw is in PostgreSQL) starts its
  numbering far above any place it gave before, so the places nodes restore (queueRestore) stay
  ahead of everyone who joins anew, and admits nobody for ARGV[4] ms (`restoreUntil`): every node
  puts its waiters back within a position interval, and a tick between two nodes' restores would
  otherwise admit past someone whose node had not restored them yet.
]]
--- @include "roomLib"

local mode = ARGV[1]
local exists = redis.call('EXISTS', K.meta) == 1
if mode == 'update' and not exists then return { 'absent' } end
if mode == 'create' and exists then return { 'exists' } end
for i = 5, #ARGV - 1, 2 do redis.call('HSET', K.meta, ARGV[i], ARGV[i + 1]) end
if mode == 'update' then return { 'updated' } end
redis.call('HSET', K.meta, 'epoch', ARGV[2], 'next', ARGV[3] == '1' and 1000000000 or 0)
if ARGV[3] == '1' then redis.call('HSET', K.meta, 'drawn', 1, 'restoreUntil', nowMs() + tonumber(ARGV[4])) end
return { 'created' }
