--[[
  Counts one message of a user in a room against a fixed window (CHAT_RATE per CHAT_RATE_WINDOW_MS),
  across every node, and against the room's slow mode (one message per member per N seconds, set
  by an admin; read here on every message, so a change is live on every node at once).

  Input:
    KEYS[1] the user's rate counter in the room
    KEYS[2] the room's slow mode (seconds; absent or 0 = off)
    KEYS[3] the user's slow-mode gate
    ARGV[1] window in ms
    ARGV[2] messages allowed per window

  Output:
    {1, left} allowed; {0, retryAfterMs, why} refused, why = 'rate' or 'slow' (a refused attempt
    is not counted)
]]
local slow = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if slow > 0 then
  local ttl = redis.call('PTTL', KEYS[3])
  if ttl > 0 then return { 0, ttl, 'slow' } end
end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local limit = tonumber(ARGV[2])
if n > limit then
  redis.call('DECR', KEYS[1])
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then
    -- A counter without expiry (a crash between INCR and PEXPIRE in an older version): give it one.
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  return { 0, ttl, 'rate' }
end
if slow > 0 then redis.call('SET', KEYS[3], '1', 'PX', math.floor(slow * 1000)) end
return { 1, limit - n }
