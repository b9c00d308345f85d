export { createKeys, type Keys, type EventKeys, type ChatKeys } from "./keys.ts";
export { installClusterSubscriberBackoff } from "./cluster-subscriber-backoff.ts";
export { connectRedis, describeRedis, duplicateRedis, isCluster, probeRedis, scanKeys, unlinkMatching, type Redis, type RedisTarget } from "./connect.ts";
export { registerLuaScripts, type ScriptCaller } from "./lua-scripts.ts";
export { readSequencedRange, seqOfEntry, type LogEntry } from "./sequenced-log.ts";
export { isRedisUnavailable } from "./unavailable.ts";
