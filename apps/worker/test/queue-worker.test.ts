import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Queue, QueueEvents } from "bullmq";
import { createLogger, metrics } from "@seatdrop/observability";
import { connectRedis, type Redis } from "@seatdrop/redis";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";
import { startQueueWorker } from "../src/queue-worker.ts";

const QUEUE = "queue-worker-test";
let env: TestEnv;
let bull: Redis;
beforeAll(async () => {
  env = await createTestEnv();
  bull = connectRedis(env.config, "bullmq");
});
afterAll(async () => {
  bull.disconnect();
  await env.close();
});

const failures = async () => (await metrics.queueJobsFailed.get()).values.find((v) => v.labels.queue === QUEUE)?.value ?? 0;

describe("startQueueWorker", () => {
  it("runs each job by its name's handler; a throwing handler and an unknown name fail the job, each logged and counted", async () => {
    const logger = createLogger("test", "silent");
    const logged = vi.spyOn(logger, "error");
    const prefix = env.keys.bullPrefix;
    const worker = startQueueWorker(
      QUEUE,
      {
        double: async (job) => (job.data as { n: number }).n * 2,
        broken: async () => {
          throw new Error("broken on purpose");
        },
      },
      { connection: bull, prefix, concurrency: 2, logger },
    );
    const queue = new Queue(QUEUE, { connection: env.redis, prefix });
    const eventsConnection = connectRedis(env.config, "bullmq");
    // From the stream's start, not `$`: a job that finishes before the listener's first read is
    // still heard (the queue is this file's own, so there is nothing older to replay).
    const events = new QueueEvents(QUEUE, { connection: eventsConnection, prefix, lastEventId: "0-0" });
    try {
      await worker.waitUntilReady();
      await events.waitUntilReady();
      const before = await failures();
      expect(await (await queue.add("double", { n: 21 })).waitUntilFinished(events)).toBe(42);
      await expect((await queue.add("broken", {})).waitUntilFinished(events)).rejects.toThrow("broken on purpose");
      await expect((await queue.add("nobody-handles-this", {})).waitUntilFinished(events)).rejects.toThrow("unknown job nobody-handles-this");
      // A name inherited from Object.prototype is no handler either.
      await expect((await queue.add("toString", {})).waitUntilFinished(events)).rejects.toThrow("unknown job toString");
      await expect.poll(failures, { timeout: 5000, message: "three failures counted" }).toBe(before + 3);
      expect(logged).toHaveBeenCalledWith(expect.objectContaining({ queue: QUEUE, job: "broken" }), "job failed");
      expect(logged).toHaveBeenCalledWith(expect.objectContaining({ queue: QUEUE, job: "nobody-handles-this" }), "job failed");
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
      eventsConnection.disconnect();
    }
  });
});
