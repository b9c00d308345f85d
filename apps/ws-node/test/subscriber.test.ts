import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnection } from "node:net";
import { createLogger, metrics } from "@seatdrop/observability";
import { connectRedis } from "@seatdrop/redis";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";
import { Subscriber, respPushBytes } from "../src/fanout/subscriber.ts";
import { ChannelSubscriptions } from "../src/fanout/channel-subscriptions.ts";
import { userBusMessageSchema, type UserBusMessage } from "@seatdrop/protocol";

/**
 * The node's subscriber holds plain channels (revocations, limit totals: PUBLISH) and sharded ones
 * (an event's seats and chat, a user's notifications: SPUBLISH) side by side.
 */
let env: TestEnv;
let subscriber: Subscriber;
beforeAll(async () => {
  env = await createTestEnv();
  subscriber = new Subscriber(connectRedis(env.config, "subscriber"), createLogger("test", "silent"));
});
afterAll(async () => {
  subscriber.disconnect();
  await env.close();
});

describe("the subscriber", () => {
  it("routes plain and sharded channels, and the plain ones keep flowing after the last sharded one is let go", async () => {
    const plain = `${env.keys.prefix}:plain-test`;
    const sharded = env.keys.event("00000000-0000-4000-8000-000000000001").channel;
    const got: string[] = [];
    await subscriber.subscribe(plain, (t) => got.push(`plain ${t}`));
    await subscriber.ssubscribe(sharded, (t) => got.push(`sharded ${t}`));
    await env.redis.publish(plain, "1");
    await env.redis.spublish(sharded, "2");
    // Sorted: on a Redis Cluster the two arrive over different connections, in either order.
    await expect.poll(() => [...got].sort(), { timeout: 5000 }).toEqual(["plain 1", "sharded 2"]);
    // ioredis read SUNSUBSCRIBE's "0 shard channels left" as "no subscription left" and broke the
    // connection's plain subscriptions when both shared it (revocations stopped reaching the node).
    subscriber.unsubscribe(sharded);
    await env.redis.spublish(sharded, "3");
    await env.redis.publish(plain, "4");
    await expect.poll(() => [...got].sort(), { timeout: 5000 }).toEqual(["plain 1", "plain 4", "sharded 2"]);
    expect(subscriber.status).toBe("ready");
  });

  it("counts the messages and bytes it receives, each push's bytes as Redis wrote them", async () => {
    const channel = env.keys.event("00000000-0000-4000-8000-000000000002").channel;
    const payload = JSON.stringify({ s: "Balcón A_12", n: "€" }); // multi-byte: bytes, not characters
    // What Redis writes for the push, read off a raw socket subscribed to the same channel (on a
    // Redis Cluster, on the master that owns it: a MOVED reply names it).
    const seed = env.config.REDIS_CLUSTER_NODES?.[0] ?? { host: new URL(env.config.REDIS_URL).hostname, port: Number(new URL(env.config.REDIS_URL).port || 6379) };
    const chunks: Buffer[] = [];
    const open = (host: string, port: number) => {
      chunks.length = 0;
      const socket = createConnection(port, host);
      socket.on("data", (b) => chunks.push(b));
      socket.write(`SSUBSCRIBE ${channel}\r\n`);
      return socket;
    };
    let raw = open(seed.host, seed.port);
    await expect.poll(() => /ssubscribe|MOVED/.test(Buffer.concat(chunks).toString()), { timeout: 5000 }).toBe(true);
    const moved = /MOVED \d+ ([^:\s]+):(\d+)/.exec(Buffer.concat(chunks).toString());
    if (moved) {
      raw.destroy();
      raw = open(moved[1]!, Number(moved[2]));
      await expect.poll(() => Buffer.concat(chunks).toString().includes("ssubscribe"), { timeout: 5000 }).toBe(true);
    }
    const ackBytes = Buffer.concat(chunks).length;
    const value = async (c: typeof metrics.pubsubBytes) => (await c.get()).values.find((v) => v.labels.kind === "sharded")?.value ?? 0;
    const [bytes0, messages0] = [await value(metrics.pubsubBytes), await value(metrics.pubsubMessages)];
    const got: string[] = [];
    await subscriber.ssubscribe(channel, (t) => got.push(t));
    await env.redis.spublish(channel, payload);
    await expect.poll(() => got, { timeout: 5000 }).toEqual([payload]);
    await expect.poll(() => Buffer.concat(chunks).length, { timeout: 5000 }).toBeGreaterThan(ackBytes);
    raw.destroy();
    const wire = Buffer.concat(chunks).length - ackBytes;
    expect(respPushBytes("smessage", channel, payload)).toBe(wire);
    expect((await value(metrics.pubsubBytes)) - bytes0).toBe(wire);
    expect((await value(metrics.pubsubMessages)) - messages0).toBe(1);
    subscriber.unsubscribe(channel);
  });

  it("decodes each message for its channel's subscribers: one that does not decode is logged, naming the channel and the field, and dropped", async () => {
    const lines: { msg: string; channel?: string; err?: { message: string } }[] = [];
    const log = createLogger("test", "error", { write: (l: string) => void lines.push(JSON.parse(l)) });
    const got: UserBusMessage[] = [];
    const subs = new ChannelSubscriptions({
      subscriber,
      channelOf: (userId) => env.keys.userChannel(userId),
      create: (userId, subscribed) => ({ userId, refs: 0, ready: subscribed.then(() => undefined) }),
      schema: userBusMessageSchema,
      what: "user message",
      onMessage: (_entry, msg) => got.push(msg),
      log,
    });
    const userId = "00000000-0000-4000-8000-000000000003";
    await subs.acquire(userId);
    const channel = env.keys.userChannel(userId);
    await env.redis.spublish(channel, "{not json");
    await env.redis.spublish(channel, JSON.stringify({ kind: "nonsense" }));
    const good = { k: "notification", n: { id: "n1", event_id: null, message: "hello", status: "unread", inserted_at: new Date().toISOString() } };
    await env.redis.spublish(channel, JSON.stringify(good));
    await expect.poll(() => got, { timeout: 5000 }).toEqual([good]);
    expect(lines.map((l) => [l.msg, l.channel])).toEqual([
      ["undecodable user message", channel],
      ["undecodable user message", channel],
    ]);
    expect(lines[0]!.err!.message).toMatch(/^user message: \(json\): /);
    subs.release(userId);
  });
});
