import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AttemptLimits, RateLimitedError, SyncedLimits } from "@seatdrop/limits";
import { connectRedis, type Redis } from "@seatdrop/redis";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

/**
 * Connect limits decided in each ws-node's memory, synchronously (the upgrade must complete inside
 * uWS's upgrade handler, with no Redis round trip), against the cluster-wide counts in Redis
 * (SyncedLimits). Two "nodes" here are two SyncedLimits, each with its own limits connection and
 * subscriber, as two ws-nodes have.
 */
const SYNC_MS = 50;
let env: TestEnv;
const closers: (() => void)[] = [];
beforeAll(async () => {
  env = await createTestEnv({ LIMIT_CONNECTS_PER_IP: "4", LIMIT_CONNECTS_PER_USER: "6", LIMIT_EXEMPT_IPS: "10.9.9.9", LIMIT_WINDOW_S: "30" });
});
afterAll(async () => {
  closers.forEach((c) => c());
  await env.close();
});

async function node(nodeId: string, redis: Redis = env.redis): Promise<SyncedLimits> {
  const limits = new AttemptLimits({ redis, keys: env.keys, config: env.config });
  const synced = new SyncedLimits({ limits, kind: "connect", nodeId, channel: env.keys.attemptTotals, syncMs: SYNC_MS });
  const sub = connectRedis(env.config, "subscriber");
  sub.on("message", (_channel: string, text: string) => synced.onMessage(text));
  await sub.subscribe(env.keys.attemptTotals);
  closers.push(() => {
    synced.close();
    limits.close();
    sub.disconnect();
  });
  return synced;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** One sync interval, its round trip and the message's delivery, with margin. */
const settle = () => sleep(SYNC_MS * 3 + 50);
let ipN = 1;
const freshIp = () => `203.0.113.${ipN++}`;

describe("connect limits in memory, synced through Redis", () => {
  it("per address: 2 connects on each of two nodes, then both refuse the 5th with the window's wait; Redis holds one count", async () => {
    const [a, b] = [await node("a"), await node("b")];
    const ip = freshIp();
    for (const n of [a, b, a, b]) {
      expect(n.take({ ip })).toBeNull();
      await settle();
    }
    for (const n of [a, b]) {
      const refused = n.take({ ip });
      expect(refused).toBeInstanceOf(RateLimitedError);
      expect(refused!.retryAfterMs).toBeGreaterThan(20_000);
      expect(refused!.retryAfterMs).toBeLessThanOrEqual(30_000);
    }
    // Another address is not affected, and an exempt one never counted.
    expect(a.take({ ip: freshIp() })).toBeNull();
    for (let i = 0; i < 10; i++) expect(a.take({ ip: "10.9.9.9" })).toBeNull();
    await Promise.all([a.flush(), b.flush()]);
    // The same count rate-limiter-flexible reads: AttemptLimits.consume refuses it too.
    expect(Number(await env.redis.get(`${env.keys.attemptLimit("connect:ip")}:${ip}`))).toBe(6); // 4 let through, 2 refused, all counted
    const direct = new AttemptLimits({ redis: env.redis, keys: env.keys, config: env.config });
    closers.push(() => direct.close());
    await expect(direct.consume("connect", { ip })).rejects.toBeInstanceOf(RateLimitedError);
  });

  it("per user, whatever the address; the longer wait of two refusals is named", async () => {
    const [a, b] = [await node("a"), await node("b")];
    const user = `user-${Date.now()}`;
    for (let i = 0; i < 6; i++) {
      expect((i % 2 ? a : b).take({ ip: freshIp(), user })).toBeNull();
      await settle();
    }
    const refused = a.take({ ip: freshIp(), user });
    expect(refused?.limit).toBe("connect:user");
    expect(b.take({ user })?.limit).toBe("connect:user");
  });

  it("the overshoot is bounded: a burst inside one sync lag gets at most nodes × limit, and everything after it is refused", async () => {
    const [a, b] = [await node("a"), await node("b")];
    const ip = freshIp();
    // Ten attempts on each node at once, before either hears of the other's.
    const let_ = { a: 0, b: 0 };
    for (let i = 0; i < 10; i++) {
      if (!a.take({ ip })) let_.a++;
      if (!b.take({ ip })) let_.b++;
    }
    expect(let_).toEqual({ a: 4, b: 4 }); // each node alone never lets more than the limit through
    await settle();
    expect(a.take({ ip })).not.toBeNull();
    expect(b.take({ ip })).not.toBeNull();
    await Promise.all([a.flush(), b.flush()]);
    expect(Number(await env.redis.get(`${env.keys.attemptLimit("connect:ip")}:${ip}`))).toBe(22);
    console.log(`synced limits: a burst of 10 per node on 2 nodes with a limit of 4 let ${let_.a + let_.b} through (bound: nodes × limit = 8); refused on both after ${SYNC_MS} ms syncs`);
  });

  it("a count another node made is heard before this node sees the subject", async () => {
    const [a, b] = [await node("a"), await node("b")];
    const ip = freshIp();
    for (let i = 0; i < 4; i++) expect(a.take({ ip })).toBeNull();
    await settle();
    expect(b.take({ ip })).toBeInstanceOf(RateLimitedError);
  });

  it("Redis down: nothing is refused for want of Redis (the cluster-wide part fails open); the node's own count still holds", async () => {
    const dead = connectRedis("redis://127.0.0.1:1", "command", { retryStrategy: () => 200, maxRetriesPerRequest: 0 });
    dead.on("error", () => {});
    closers.push(() => dead.disconnect());
    const n = await node("dead", dead);
    const ip = freshIp();
    for (let i = 0; i < 4; i++) expect(n.take({ ip })).toBeNull();
    await settle();
    expect(n.take({ ip })).toBeInstanceOf(RateLimitedError);
    expect(n.take({ ip: freshIp(), user: "u-dead" })).toBeNull();
  });
});
