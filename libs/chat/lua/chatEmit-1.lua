--[[
  Appends one event (a stored message, a room status change) to the room's order and publishes it.

  Input:
    KEYS[1] the room's sequence hash (routes the call)
    ARGV[1] key base of the room
    ARGV[2] the event as JSON (`{"k":"message",…}`, see libs/protocol/src/chat-frames.ts)
    ARGV[3] origin tag (`<nodeId>:<connId>`) of the connection that caused it, or ''

  Output:
    {seq, epoch}
]]
--- @include "chatLib"

local seq, ep = emit(ARGV[2], ARGV[3])
return { seq, ep }
