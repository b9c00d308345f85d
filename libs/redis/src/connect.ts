import { Redis, type RedisOptions } from "ioredis";

/**
 * Opens an ioredis connection. `role` picks options: BullMQ needs `maxRetriesPerRequest: null`,
 * subscribers must not have offline command limits, commands fail fast when Redis is gone.
 */
export function connectRedis(url: string, role: "command" | "subscriber" | "bullmq" = "command", extra: RedisOptions = {}): Redis {
  const opts: RedisOptions = {
    lazyConnect: false,
    enableAutoPipelining: role === "command",
    maxRetriesPerRequest: role === "command" ? 3 : null,
    connectionName: `sdc-${role}`,
    ...extra,
  };
  return new Redis(url, opts);
}

/** One attempt, turned into one human sentence on failure (used by `npm start`). */
export async function probeRedis(url: string): Promise<string | null> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000 });
  let cause: NodeJS.ErrnoException | undefined;
  r.on("error", (err: NodeJS.ErrnoException) => (cause ??= err));
  try {
    await r.connect();
    await r.ping();
    return null;
  } catch (err) {
    const e = cause ?? (err as NodeJS.ErrnoException);
    return `Redis is not reachable at ${url} (${e.code ?? e.message}). Start Redis (redis-server), or set REDIS_URL to a running server.`;
  } finally {
    r.disconnect();
  }
}
