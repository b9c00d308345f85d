import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { AttemptLimits, RateLimitedError } from "@seatdrop/limits";
import { connectRedis } from "@seatdrop/redis";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv({ LIMIT_CONNECTS_PER_IP: "3", LIMIT_EXEMPT_IPS: "" });
});
afterAll(() => env.close());

describe("attempt limits on an auto-pipelined connection", () => {
  it("the first check, in the same tick as other commands, neither throws outside its promise nor loses a count", async () => {
    // A fresh connection as the apps have it (auto-pipelining on), with a batch already open in this
    // tick when the first limit is checked: a limiter created at that moment defined its script too
    // late for the batch, and ioredis threw where nothing could catch it (the process ended).
    const redis = connectRedis(env.config);
    await redis.ping();
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => void uncaught.push(err);
    process.on("uncaughtException", onUncaught);
    try {
      const limits = new AttemptLimits({ redis, keys: env.keys, config: env.config });
      onTestFinished(() => limits.close());
      const pending = redis.get(`${env.config.REDIS_PREFIX}:nothing`);
      const answers = await Promise.allSettled([pending, ...Array.from({ length: 5 }, () => limits.consume("connect", { ip: "198.51.100.7" }))]);
      await new Promise((r) => setTimeout(r, 50));
      expect(uncaught).toEqual([]);
      const refused = answers.slice(1).filter((a) => a.status === "rejected" && a.reason instanceof RateLimitedError);
      expect(refused).toHaveLength(2); // a limit of 3: the 4th and 5th attempts
    } finally {
      process.off("uncaughtException", onUncaught);
      redis.disconnect();
    }
  });
});
