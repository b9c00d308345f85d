import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { connectRedis } from "@seatdrop/redis";
import { startRedisCluster, waitFor, type LocalRedisCluster } from "./support/redis-cluster.ts";

/**
 * A Cluster client that connects while a shard is failing over. ioredis' `connect()` got the slot
 * map, failed its ready check (every node answers `cluster_state:fail` until the replica is
 * promoted), reconnected by itself and never settled the promise it had returned. BullMQ's Worker
 * awaits that promise when it reconnects its blocking connection, so after a failover a worker could
 * stop fetching jobs for good and never close (seen in `test/redis-cluster.test.ts`).
 */
let cluster: LocalRedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

describe("a Cluster client connecting during a failover", () => {
  it("connect() settles once the client is ready after the promotion", async () => {
    const victim = await cluster.masterOf("{probe}");
    const survivor = cluster.nodes.find((n) => n.port !== victim)!.port;
    const probe = new Redis({ port: survivor, lazyConnect: true });
    await probe.connect();
    const state = async () => /cluster_state:(\w+)/.exec(await probe.cluster("INFO"))?.[1];
    try {
      await cluster.kill(victim);
      // The window the bug needs: the cluster has marked the master failed, no replica promoted yet.
      await waitFor(async () => (await state()) === "fail", 15_000, "cluster_state:fail after the kill");
      const seeds = cluster.seeds.split(",").map((s) => ({ host: "127.0.0.1", port: Number(s.split(":")[1]) }));
      const client = connectRedis({ REDIS_URL: "", REDIS_CLUSTER_NODES: seeds }, "bullmq", { lazyConnect: true });
      try {
        let readyChecksFailed = 0;
        client.on("close", () => readyChecksFailed++);
        const settled = client.connect().then(
          () => "resolved",
          (err: Error) => `rejected: ${err.message}`,
        );
        const outcome = await Promise.race([settled, new Promise((r) => setTimeout(() => r("never settled within 30 s"), 30_000))]);
        expect(outcome).toBe("resolved");
        expect(client.status).toBe("ready");
        expect(await client.set("{probe}", "1")).toBe("OK");
        // The test is only worth something if the first attempt really failed its ready check.
        expect(readyChecksFailed, "connect() met the failover window (its ready check failed at least once)").toBeGreaterThan(0);
      } finally {
        client.disconnect();
      }
    } finally {
      probe.disconnect();
    }
  }, 60_000);
});
