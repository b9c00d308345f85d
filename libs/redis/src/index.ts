export { createKeys, type Keys, type EventKeys, type ChatKeys } from "./keys.ts";
export { connectRedis, probeRedis } from "./connect.ts";
export type { Redis } from "ioredis";
export { registerLuaScripts, type ScriptCaller } from "./lua-scripts.ts";
export { readSequencedRange, seqOfEntry, type LogEntry } from "./sequenced-log.ts";
export { isRedisUnavailable } from "./unavailable.ts";
