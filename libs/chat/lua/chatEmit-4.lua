--[[
  Appends one event (a stored message, a room status change) to the room's order and publishes it.

  Input:
    KEYS the room's keys (chatLib's K)
    ARGV[1] the event as JSON (`{"k":"message",…}`, see libs/protocol/src/chat-frames.ts)
    ARGV[2] origin tag (`<nodeId>:<connId>`) of the connection that caused it, or ''

  Output:
    {seq, epoch}
]]
--- @include "chatLib"

local seq, ep = emit(ARGV[1], ARGV[2])
return { seq, ep }
