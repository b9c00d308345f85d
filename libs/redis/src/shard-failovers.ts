import { Cluster, Redis as Standalone } from "ioredis";

/** A shard of a Redis Cluster whose master changed to one of its own replicas. */
export interface ShardFailover {
  /** The shard's slot ranges, `[start, end]` inclusive. */
  slots: [number, number][];
  /** `host:port` of the master that was replaced, and of the promoted replica. */
  from: string;
  to: string;
}

interface ShardView {
  masterId: string;
  endpoint: string;
  /** Every node id of the shard (master and replicas). */
  members: Set<string>;
  slots: [number, number][];
}

/**
 * Watches a Redis Cluster for failovers: every `everyMs`, `CLUSTER SHARDS` from the first node that
 * answers; a shard (known by its slots, which a failover keeps) whose master is now a node that was
 * its replica is reported once. Replication is asynchronous, so the promoted replica may lack the
 * last writes its master acknowledged: the caller treats the shard like a Redis that restarted.
 * A slot migration (a different shard taking slots) is not a failover and is not reported.
 */
export function watchShardFailovers(cluster: Cluster, o: { everyMs: number; onFailover: (f: ShardFailover) => Promise<void>; onError: (err: unknown) => void }): { stop(): void } {
  // `onFailover` must handle its own errors (it is not awaited).
  let known = new Map<string, ShardView>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      const now = await readShards(cluster);
      if (now) {
        for (const [key, shard] of now) {
          const before = known.get(key);
          if (before && before.masterId !== shard.masterId && before.members.has(shard.masterId))
            void o.onFailover({ slots: shard.slots, from: before.endpoint, to: shard.endpoint }); // not awaited: one slow recovery does not hold back the watch
        }
        // A shard seen mid-failover (no healthy master yet) keeps its last known view.
        known = new Map([...known, ...now]);
      }
    } catch (err) {
      o.onError(err);
    }
    if (!stopped) timer = setTimeout(tick, o.everyMs).unref();
  };
  void tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** The cluster's shards as one live node sees them (null when none answered), by slot ranges. */
async function readShards(cluster: Cluster): Promise<Map<string, ShardView> | null> {
  for (const node of cluster.nodes("all")) {
    const reply = await withTimeout(node.call("CLUSTER", "SHARDS"), 1000).catch(() => null);
    if (Array.isArray(reply)) return parseShards(reply);
  }
  return null;
}

function parseShards(reply: unknown[]): Map<string, ShardView> {
  const out = new Map<string, ShardView>();
  for (const raw of reply) {
    const shard = pairs(raw as unknown[]);
    const flat = (shard.get("slots") as (number | string)[] | undefined) ?? [];
    const slots: [number, number][] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) slots.push([Number(flat[i]), Number(flat[i + 1])]);
    if (slots.length === 0) continue; // a shard of replicas only, or a node being added
    const nodes = ((shard.get("nodes") as unknown[][] | undefined) ?? []).map(pairs);
    const master = nodes.find((n) => n.get("role") === "master" && n.get("health") !== "fail");
    if (!master) continue; // mid-failover: no healthy master to report yet
    out.set(slots.map(([a, b]) => `${a}-${b}`).join(","), {
      masterId: String(master.get("id")),
      endpoint: `${String(master.get("ip") ?? master.get("endpoint"))}:${String(master.get("port") ?? master.get("tls-port"))}`,
      members: new Set(nodes.map((n) => String(n.get("id")))),
      slots,
    });
  }
  return out;
}

/** A RESP2 flat `[key, value, key, value, …]` array as a map. */
function pairs(flat: unknown[]): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(String(flat[i]), flat[i + 1]);
  return m;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

/**
 * Every key matching `pattern` on the master at `endpoint` (`host:port`), through a connection of
 * its own (the cluster client may not have learnt the new master yet), with the cluster's options.
 */
export async function scanMaster(cluster: Cluster, endpoint: string, pattern: string): Promise<string[]> {
  const i = endpoint.lastIndexOf(":");
  const node = new Standalone({ ...cluster.options.redisOptions, host: endpoint.slice(0, i), port: Number(endpoint.slice(i + 1)), lazyConnect: true, maxRetriesPerRequest: 1, enableAutoPipelining: false });
  node.on("error", () => {});
  try {
    await node.connect();
    const found: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== "0");
    return found;
  } finally {
    node.disconnect();
  }
}
