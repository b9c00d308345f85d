import { Queue, Worker } from "bullmq";
import type { Config } from "@seatdrop/config";
import { connectDb } from "@seatdrop/db";
import { HOLDS_QUEUE, holdAbandonJob, holdExpiryJob, holdSweepJob } from "@seatdrop/jobs";
import type { Logger } from "@seatdrop/observability";
import { connectRedis, createKeys } from "@seatdrop/redis";
import { SeatService } from "@seatdrop/seats";
import { handleHoldAbandon } from "./jobs/hold-abandon.ts";
import { handleHoldExpiry } from "./jobs/hold-expiry.ts";
import { handleHoldSweep } from "./jobs/hold-sweep.ts";

export interface WorkerHandle {
  isReady(): boolean;
  close(): Promise<void>;
}

/** Starts the BullMQ workers: hold expiry, abandoned holds, and the periodic sweep. */
export async function startWorker(o: { config: Config; logger: Logger }): Promise<WorkerHandle> {
  const { config } = o;
  const logger = o.logger.child({ module: "worker" });
  const redis = connectRedis(config.REDIS_URL);
  const bull = connectRedis(config.REDIS_URL, "bullmq");
  const db = connectDb(config.DATABASE_URL, { max: 4 });
  const keys = createKeys(config.REDIS_PREFIX);
  const seats = new SeatService({ redis, keys, config, logger, db: db.db });

  const worker = new Worker(
    HOLDS_QUEUE,
    async (job) => {
      switch (job.name) {
        case holdExpiryJob.name:
          return handleHoldExpiry(seats, job);
        case holdAbandonJob.name:
          return handleHoldAbandon(seats, job);
        case holdSweepJob.name:
          return handleHoldSweep(seats, db.db);
        default:
          throw new Error(`unknown job ${job.name}`);
      }
    },
    { connection: bull, prefix: keys.bullPrefix, concurrency: 32 },
  );
  worker.on("failed", (job, err) => logger.error({ err, job: job?.name, id: job?.id }, "job failed"));
  worker.on("error", (err) => logger.error({ err }, "worker error"));

  const queue = new Queue(HOLDS_QUEUE, { connection: redis, prefix: keys.bullPrefix });
  await queue.upsertJobScheduler(holdSweepJob.schedulerId, { every: holdSweepJob.everyMs }, { name: holdSweepJob.name, data: {}, opts: { removeOnComplete: true, removeOnFail: 100 } });
  await worker.waitUntilReady();
  logger.info("worker ready");

  return {
    isReady: () => worker.isRunning(),
    async close() {
      await worker.close();
      await queue.close();
      redis.disconnect();
      bull.disconnect();
      await db.close();
    },
  };
}
