--[[
  Publishes a `user_typing` notice unless the same user sent the same kind (typing / stopped) in
  this room within the throttle window. Typing notices are not sequenced (`s` = 0): losing one
  costs nothing, and they must never hold back messages.

  Input:
    KEYS[1] the user's typing gate for this kind
    ARGV[1] key base of the room
    ARGV[2] throttle window in ms (0 = no throttle)
    ARGV[3] the event as JSON (`{"k":"typing",…}`)
    ARGV[4] origin tag

  Output:
    1 published, 0 throttled
]]
--- @include "chatLib"

local ms = tonumber(ARGV[2])
if ms > 0 and not redis.call('SET', KEYS[1], '1', 'PX', ms, 'NX') then return 0 end
redis.call('SPUBLISH', K.channel, '{"s":0,"o":' .. cjson.encode(ARGV[4]) .. ',"ev":' .. ARGV[3] .. '}')
return 1
