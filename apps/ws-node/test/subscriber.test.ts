import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { connectRedis } from "@seatdrop/redis";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";
import { Subscriber } from "../src/fanout/subscriber.ts";

/**
 * The node's subscriber holds plain channels (revocations, limit totals: PUBLISH) and sharded ones
 * (an event's seats and chat, a user's notifications: SPUBLISH) side by side (issue 18).
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
    await expect.poll(() => got, { timeout: 5000 }).toEqual(["plain 1", "sharded 2"]);
    // ioredis read SUNSUBSCRIBE's "0 shard channels left" as "no subscription left" and broke the
    // connection's plain subscriptions when both shared it (revocations stopped reaching the node).
    subscriber.unsubscribe(sharded);
    await env.redis.spublish(sharded, "3");
    await env.redis.publish(plain, "4");
    await expect.poll(() => got, { timeout: 5000 }).toEqual(["plain 1", "sharded 2", "plain 4"]);
    expect(subscriber.status).toBe("ready");
  });
});
