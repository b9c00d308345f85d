export { createKeys, type Keys, type EventKeys, type ChatKeys } from "./keys.ts";
export { scanMaster, watchShardFailovers, type ShardFailover } from "./shard-failovers.ts";
export { installIoredisClusterFixes } from "./ioredis-cluster-fixes.ts";
export { connectRedis, describeRedis, duplicateRedis, isCluster, probeRedis, scanKeys, unlinkMatching, type Redis, type RedisTarget } from "./connect.ts";
export { registerLuaScripts, luaScripts, type LoadedScript, type ScriptCaller } from "./lua-scripts.ts";
export { isRedisUnavailable } from "./unavailable.ts";
export { readReply, ReplyReader, ScriptReplyError } from "./script-reply.ts";
