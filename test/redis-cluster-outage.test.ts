import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRedis, installIoredisClusterFixes, isRedisUnavailable } from "@seatdrop/redis";
import { PhxClient, createEvent, createUser, push, seatIdsGrid } from "./support/cluster.ts";
import { startChildNode, type ChildNode } from "./support/child-node.ts";
import { startRedisCluster, type LocalRedisCluster } from "./support/redis-cluster.ts";
import { createTestEnv, type TestEnv } from "./support/test-env.ts";

/**
 * A ws-node whose whole Redis Cluster dies. Found in a session where a test's cluster was stopped
 * under a running node: ioredis' Cluster re-selected its subscriber node in a loop with no delay (a
 * full core, ~800 MB a minute), and its SIGTERM drain waited for ever on teardown that needs Redis
 * (the chat room's presence, the job queue's close). The node must idle while it waits for Redis,
 * its commands must fail as "Redis unavailable", and a drain must finish.
 */
let redis: LocalRedisCluster;
let env: TestEnv;
let node: ChildNode | undefined;
beforeAll(async () => {
  redis = await startRedisCluster();
  // The test's own database and prefix; its Redis handle is the local one (the cluster dies here).
  env = await createTestEnv();
}, 60_000);
afterAll(async () => {
  await node?.kill();
  await redis?.stop();
  await env?.close();
});

/** CPU seconds (user + system) the process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

describe("a ws-node whose whole Redis Cluster is gone", () => {
  it("the fixes to ioredis' Cluster client are in place (the ioredis version still has the methods they wrap)", () => {
    expect(installIoredisClusterFixes()).toEqual({ subscriberBackoff: true, cheapSlotCompare: true, refreshThrottle: true, connectSettles: true });
  });

  it("idles while it waits (no reconnect loop) and drains on SIGTERM", async () => {
    // ioredis' debug output names each subscriber node it selects: that is what looped.
    node = await startChildNode(env, { captureStderr: true, overrides: { REDIS_CLUSTER_NODES: redis.seeds, WS_DRAIN_NOTICE_MS: "0", DEBUG: "ioredis:cluster:subscriber" } });
    const selections = () => node!.stderr().split("selected a subscriber").length - 1;
    // A command client of this process, as the apps open it.
    const commands = connectRedis({ REDIS_URL: env.config.REDIS_URL, REDIS_CLUSTER_NODES: redis.seeds.split(",").map((s) => ({ host: s.split(":")[0]!, port: Number(s.split(":")[1]) })) });
    expect(await commands.set(env.keys.event("probe").meta, "1")).toBe("OK");
    const eventId = await createEvent(env, seatIdsGrid(1, 4));
    const buyer = await createUser(env);
    // A joined channel and a lock: the node holds sharded and plain subscriptions and live commands.
    const client = new PhxClient(node.port, buyer.token, { reconnectAfterMs: 3_600_000 });
    const joined = await client.join(`seats:${eventId}`);
    expect(await push(joined.channel, "lock", { seat: "A_1" })).toMatchObject({ status: "ok" });

    // All at once, as a whole cluster going down looks (with kills one by one the client may first
    // empty its node pool, and the loop does not start).
    await Promise.all(redis.nodes.map((n) => redis.kill(n.port)));
    await new Promise((r) => setTimeout(r, 2000)); // the first reconnect attempts
    const pid = node.process.pid!;
    const before = cpuSeconds(pid);
    const selectedBefore = selections();
    await new Promise((r) => setTimeout(r, 5000));
    const used = cpuSeconds(pid) - before;
    // Without the backoff the node selected ~35 subscriber nodes a second here (and spun a full
    // core in a longer outage); with it, at most one every 2 s after the first few.
    expect(selections() - selectedBefore, "subscriber nodes selected in 5 s while Redis was gone").toBeLessThan(15);
    expect(used, "CPU seconds used in 5 s while Redis was gone").toBeLessThan(1.5);

    // A command fails as "Redis unavailable" instead of waiting in ioredis' offline queue for ever.
    const outcome = await Promise.race([
      commands.get(env.keys.event("probe").meta).then(
        () => "answered",
        (err: unknown) => (isRedisUnavailable(err) ? "unavailable" : String(err)),
      ),
      new Promise<string>((r) => setTimeout(() => r("still waiting after 10 s"), 10_000)),
    ]);
    expect(outcome).toBe("unavailable");
    commands.disconnect();

    const exited = new Promise<number | null>((resolve) => node!.process.once("exit", (code) => resolve(code)));
    node.process.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("still running 30 s after SIGTERM"), 30_000))]);
    expect(code).toBe(0);
    await client.disconnect();
  }, 90_000);
});
