--[[
  Publishes a `user_typing` notice unless the same user sent the same kind (typing / stopped) in
  this room within the throttle window. Typing notices are not sequenced (`s` = 0): losing one
  costs nothing, and they must never hold back messages.

  Input:
    KEYS[1] the user's typing gate for this kind
    KEYS[2] the room's channel
    ARGV[1] throttle window in ms (0 = no throttle)
    ARGV[2] the event as JSON (`{"k":"typing",…}`)
    ARGV[3] origin tag

  Output:
    1 published, 0 throttled
]]
local ms = tonumber(ARGV[1])
if ms > 0 and not redis.call('SET', KEYS[1], '1', 'PX', ms, 'NX') then return 0 end
redis.call('SPUBLISH', KEYS[2], '{"s":0,"o":' .. cjson.encode(ARGV[3]) .. ',"ev":' .. ARGV[2] .. '}')
return 1
