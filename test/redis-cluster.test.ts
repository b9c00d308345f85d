import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "@seatdrop/config";
import { createEvent, createUser, push, seatIdsGrid } from "./support/cluster.ts";
import { startRedisCluster, type LocalRedisCluster } from "./support/redis-cluster.ts";
import { useCluster } from "./support/use-cluster.ts";

/**
 * The cluster on Redis Cluster (issue 18, first part): REDIS_CLUSTER_NODES makes every process use
 * ioredis' Cluster client; here a local cluster of three masters and three replicas (Debian's
 * redis-server, joined by redis-cli) carries two ws-nodes and the worker, with events on every shard.
 */
let redis: LocalRedisCluster;
// Registered before useCluster's hooks: started before the environment, stopped after the nodes (after-hooks run as a stack).
beforeAll(async () => {
  redis = await startRedisCluster();
}, 60_000);
afterAll(async () => {
  await redis?.stop();
});
const w = useCluster(() => ({ REDIS_CLUSTER_NODES: redis.seeds }));

describe("on a Redis Cluster of three masters and three replicas", () => {
  it("events land on every shard; on each, a lock on one ws-node reaches a watcher on the other, and a late joiner sees it", async () => {
    expect(w.env.redis).toBeInstanceOf(Cluster);
    const events: string[] = [];
    const masters = new Set<number>();
    // Enough events that every shard gets some (each event is one hash slot).
    while (masters.size < 3 && events.length < 30) {
      const id = await createEvent(w.env, seatIdsGrid(1, 4));
      events.push(id);
      masters.add(await redis.masterOf(w.env.keys.event(id).meta));
    }
    expect(masters.size).toBe(3);
    for (const eventId of events.slice(0, 6)) {
      const buyer = await createUser(w.env);
      const a = await w.client(0, buyer.token).join(`seats:${eventId}`);
      const b = await w.client(1).join(`seats:${eventId}`, { changes: true });
      expect(await push(a.channel, "lock", { seat: "A_2" })).toMatchObject({ status: "ok", response: { seat: "A_2", seq: 1 } });
      await expect.poll(() => b.log.find((m) => m.event === "changes"), { timeout: 10_000, message: `the lock of ${eventId} on the other node` }).toBeTruthy();
      // Written to the cluster (this process's client is a Cluster client), not to a standalone Redis.
      expect(await w.env.redis.hget(w.env.keys.event(eventId).state, "A_2")).toBe(`L|${buyer.id}`);
      const late = await w.client(1).join(`seats:${eventId}`);
      expect((late.reply.seats as Record<string, string>).A_2).toBe("locked");
    }
  });

  it("a hold expires through the sweep, and its owner hears deleted", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 3), { holdTtlMs: 600, holdMaxExtensions: 0 });
    const owner = await createUser(w.env);
    const c = await w.client(0, owner.token).join(`seats:${eventId}`);
    expect(await push(c.channel, "lock", { seat: "A_1" })).toMatchObject({ status: "ok" });
    await expect.poll(() => c.log.find((m) => m.event === "deleted"), { timeout: 15_000, message: "deleted after the hold's TTL" }).toBeTruthy();
    expect(await w.cluster.seats.holdOf(eventId, owner.id)).toBeNull();
  });

  it("REDIS_CLUSTER_NODES that is not a list of host:port stops the configuration, naming the variable", () => {
    for (const bad of ["127.0.0.1", "127.0.0.1:0", "redis://127.0.0.1:7000", "a:1,b"]) {
      expect(() => loadConfig({ REDIS_CLUSTER_NODES: bad })).toThrow(/REDIS_CLUSTER_NODES/);
    }
    expect(loadConfig({ REDIS_CLUSTER_NODES: "10.0.0.1:7000, redis-2:7001,[::1]:7002" }).REDIS_CLUSTER_NODES).toEqual([
      { host: "10.0.0.1", port: 7000 },
      { host: "redis-2", port: 7001 },
      { host: "::1", port: 7002 },
    ]);
    expect(loadConfig({ REDIS_CLUSTER_NODES: "" }).REDIS_CLUSTER_NODES).toBeUndefined();
  });
});
