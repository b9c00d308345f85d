export { createKeys, type Keys, type EventKeys } from "./keys.ts";
export { connectRedis, probeRedis } from "./connect.ts";
export type { Redis } from "ioredis";
