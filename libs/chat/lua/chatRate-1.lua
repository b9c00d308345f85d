--[[
  Counts one message of a user in a room against a fixed window (CHAT_RATE per CHAT_RATE_WINDOW_MS),
  across every node.

  Input:
    KEYS[1] the user's rate counter in the room
    ARGV[1] window in ms
    ARGV[2] messages allowed per window

  Output:
    {1, left} allowed; {0, retryAfterMs} refused (the refused attempt is not counted)
]]
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
  return { 0, ttl }
end
return { 1, limit - n }
