import { fileURLToPath } from "node:url";
import type { Redis } from "@seatdrop/redis";
import { registerLuaScripts, type ScriptCaller as Caller } from "@seatdrop/redis";

const luaDir = fileURLToPath(new URL("../lua/", import.meta.url));

/** The seat scripts (../lua), by camelName. */
export type ScriptName =
  | "seatTransitions"
  | "extendHold"
  | "releaseHold"
  | "sweepHolds"
  | "abandonHolds"
  | "snapshot"
  | "setSeatState"
  | "loadEvent"
  | "markLive"
  | "reserveHold"
  | "rebuildState"
  | "restartEpoch";

export type ScriptCaller = Caller<ScriptName>;

/** Registers the seat scripts on a connection; see libs/redis/src/lua-scripts.ts. */
export function registerScripts(redis: Redis): ScriptCaller {
  return registerLuaScripts<ScriptName>(redis, luaDir, "seat");
}
