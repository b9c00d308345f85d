--[[
  Shared helpers of every chat script. Included (not pasted) by the loader in src/scripts.ts,
  which replaces the `--- @include "chatLib"` line of a script with this file.

  Every script that includes it declares the room's keys in KEYS, in the order of `ChatKeys.script`
  (libs/redis/src/keys.ts): seq, log, channel, presence. They all carry the event's hash tag, so a
  script stays in one Redis Cluster slot.
]]
local K = { seq = KEYS[1], log = KEYS[2], channel = KEYS[3], presence = KEYS[4] }

-- How many sequenced events the log keeps for nodes repairing a gap (pub/sub is at-most-once).
local LOG_MAX = 1000

--[[
  Appends one chat event (JSON text) to the room's total order and publishes it:
  `n` + 1, one log entry with stream id `<seq>-1`, ONE publish carrying seq, epoch and origin.
  A sequence hash without `n` is a room Redis lost (or never had): it gets a new epoch and an
  empty log, so log ids always grow and nodes notice the restart. Returns seq, epoch.
]]
local function emit(evJson, origin)
  local ep = redis.call('HGET', K.seq, 'ep')
  if not ep or redis.call('HEXISTS', K.seq, 'n') == 0 then
    local t = redis.call('TIME')
    ep = t[1] .. '.' .. t[2]
    redis.call('DEL', K.log)
    redis.call('HSET', K.seq, 'ep', ep, 'n', 0)
  end
  local seq = redis.call('HINCRBY', K.seq, 'n', 1)
  redis.call('XADD', K.log, 'MAXLEN', '~', LOG_MAX, seq .. '-1', 'm', evJson, 'o', origin)
  redis.call('SPUBLISH', K.channel,
    '{"s":' .. seq .. ',"ep":' .. cjson.encode(ep) .. ',"o":' .. cjson.encode(origin) .. ',"ev":' .. evJson .. '}')
  return seq, ep
end

-- Removes those of the presence fields ARGV[from..] that are there; returns their entries (JSON).
local function removeEntries(from)
  local fields, gone = {}, {}
  for i = from, #ARGV do
    local v = redis.call('HGET', K.presence, ARGV[i])
    if v then
      fields[#fields + 1] = ARGV[i]
      gone[#gone + 1] = v
    end
  end
  if #fields > 0 then redis.call('HDEL', K.presence, unpack(fields)) end
  return gone
end

-- Phoenix presence map `{user: {metas: [meta, ...]}}` of stored entries (JSON with `user_id`).
local function presenceDiffPart(entries)
  local out = {}
  local n = 0
  for _, raw in ipairs(entries) do
    local m = cjson.decode(raw)
    local u = m.user_id
    m.user_id = nil
    if not out[u] then out[u] = { metas = {} } end
    table.insert(out[u].metas, m)
    n = n + 1
  end
  return out, n
end
