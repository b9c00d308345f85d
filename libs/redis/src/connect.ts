import { Cluster, Redis as Standalone, type ClusterOptions, type RedisOptions } from "ioredis";
import { installIoredisClusterFixes } from "./ioredis-cluster-fixes.ts";

/** A connection: one Redis server, or a Redis Cluster (REDIS_CLUSTER_NODES). */
export type Redis = Standalone | Cluster;

/** Whether `redis` is a Redis Cluster client (REDIS_CLUSTER_NODES). */
export function isCluster(redis: Redis): redis is Cluster {
  return redis instanceof Cluster;
}

/** Where Redis is: a URL, or the config's REDIS_URL unless REDIS_CLUSTER_NODES names a cluster. */
export type RedisTarget = string | { REDIS_URL: string; REDIS_CLUSTER_NODES?: { host: string; port: number }[] | undefined };

/** What a process prints at start about its Redis (the cluster's seeds, or the URL). */
export function describeRedis(target: RedisTarget): string {
  if (typeof target === "string") return target;
  const seeds = target.REDIS_CLUSTER_NODES;
  if (!seeds) return target.REDIS_URL;
  return `Redis Cluster via ${seeds.map((s) => `${s.host}:${s.port}`).join(",")} (REDIS_CLUSTER_NODES is set, so REDIS_URL is ignored)`;
}

/**
 * Opens an ioredis connection, or a Cluster client when the target names a cluster. `role` picks
 * options: BullMQ needs `maxRetriesPerRequest: null`, subscribers must not have offline command
 * limits (and on a cluster read sharded channels through one subscriber per master), commands fail
 * fast when Redis is gone and are auto-pipelined.
 */
export function connectRedis(target: RedisTarget, role: "command" | "subscriber" | "bullmq" = "command", extra: RedisOptions = {}): Redis {
  const opts: RedisOptions = {
    lazyConnect: false,
    enableAutoPipelining: role === "command",
    maxRetriesPerRequest: role === "command" ? 3 : null,
    connectionName: `sdc-${role}`,
    ...extra,
  };
  const seeds = typeof target === "string" ? undefined : target.REDIS_CLUSTER_NODES;
  if (!seeds) return new Standalone(typeof target === "string" ? target : target.REDIS_URL, opts);
  const { enableAutoPipelining, lazyConnect, ...redisOptions } = opts;
  installIoredisClusterFixes();
  const cluster: ClusterOptions = { redisOptions, enableAutoPipelining, lazyConnect, shardedSubscribers: role === "subscriber", scaleReads: "master" };
  return new Cluster(seeds, cluster);
}

/**
 * A second connection like `redis` (the same server or cluster) with `opts` changed: for a cluster
 * the options apply to its connection to every node (and auto-pipelining to the client itself).
 */
export function duplicateRedis(redis: Redis, opts: RedisOptions): Redis {
  if (!(redis instanceof Cluster)) return redis.duplicate(opts);
  const { enableAutoPipelining, ...redisOptions } = opts;
  return redis.duplicate(undefined, { ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }), redisOptions: { ...redis.options.redisOptions, ...redisOptions } });
}

/** One attempt, turned into one human sentence on failure (used by `npm start`). */
export async function probeRedis(url: string): Promise<string | null> {
  const r = new Standalone(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000 });
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

/**
 * Every key matching `pattern`, in batches: SCAN on a single server, SCAN on each master of a
 * cluster (a cluster's SCAN sees one node only). `onBatch` gets each batch as found.
 */
export async function scanKeys(redis: Redis, pattern: string, onBatch: (keys: string[]) => Promise<void>): Promise<void> {
  const servers = redis instanceof Cluster ? redis.nodes("master") : [redis];
  for (const server of servers) {
    let cursor = "0";
    do {
      const [next, found] = await server.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      if (found.length) await onBatch(found);
    } while (cursor !== "0");
  }
}

/** Deletes every key matching `pattern` (UNLINK, one key per call on a cluster, where keys of one batch span slots). */
export async function unlinkMatching(redis: Redis, pattern: string): Promise<void> {
  await scanKeys(redis, pattern, async (keys) => {
    if (redis instanceof Cluster) await Promise.all(keys.map((k) => redis.unlink(k)));
    else await redis.unlink(...keys);
  });
}
