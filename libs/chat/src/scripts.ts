import { fileURLToPath } from "node:url";
import { registerLuaScripts, type Redis, type ScriptCaller } from "@seatdrop/redis";

const luaDir = fileURLToPath(new URL("../lua/", import.meta.url));

/** The chat scripts (../lua), by camelName. */
export type ChatScriptName = "chatEmit" | "presenceBatch" | "presenceLeave" | "chatRate" | "typing";

export type ChatScriptCaller = ScriptCaller<ChatScriptName>;

/** Registers the chat scripts on a connection; see libs/redis/src/lua-scripts.ts. */
export function registerChatScripts(redis: Redis): ChatScriptCaller {
  return registerLuaScripts<ChatScriptName>(redis, luaDir, "chat");
}
