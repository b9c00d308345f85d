import { Queue, Worker } from "bullmq";
import type { Config } from "@seatdrop/config";
import { connectDb } from "@seatdrop/db";
import { HOLDS_QUEUE, ORDERS_QUEUE, OrderJobs, holdAbandonJob, holdExpiryJob, holdSweepJob, orderExpiryJob, seatsRebuildJob } from "@seatdrop/jobs";
import { expireOverdueOrders, rebuildSeats, type OrdersContext } from "@seatdrop/orders";
import { metrics, type Logger } from "@seatdrop/observability";
import { connectRedis, createKeys } from "@seatdrop/redis";
import { SeatService } from "@seatdrop/seats";
import { handleHoldAbandon } from "./jobs/hold-abandon.ts";
import { handleHoldExpiry } from "./jobs/hold-expiry.ts";
import { handleHoldSweep } from "./jobs/hold-sweep.ts";
import { startRoomWorker } from "./jobs/room-worker.ts";
import { handleOrderExpiry } from "./jobs/order-expiry.ts";
import { handleSeatsRebuild } from "./jobs/seats-rebuild.ts";

export interface WorkerHandle {
  isReady(): boolean;
  close(): Promise<void>;
}

/**
 * Starts the BullMQ workers: hold expiry, abandoned holds and the hold sweep; order expiry and
 * seat rebuilds. On start it rebuilds every current event's reserved and paid seats from
 * PostgreSQL (Redis may have lost them while the worker was down).
 */
export async function startWorker(o: { config: Config; logger: Logger }): Promise<WorkerHandle> {
  const { config } = o;
  const logger = o.logger.child({ module: "worker" });
  const redis = connectRedis(config.REDIS_URL);
  const bull = connectRedis(config.REDIS_URL, "bullmq");
  const db = connectDb(config.DATABASE_URL, { max: 4 });
  const keys = createKeys(config.REDIS_PREFIX);
  const seats = new SeatService({ redis, keys, config, logger, db: db.db });
  const orderJobs = new OrderJobs(redis, keys.bullPrefix);
  const orders: OrdersContext = { db: db.db, seats, config, logger: logger.child({ module: "orders" }), jobs: orderJobs };

  const worker = new Worker(
    HOLDS_QUEUE,
    async (job) => {
      switch (job.name) {
        case holdExpiryJob.name: {
          const r = (await handleHoldExpiry(seats, job)) as { released?: number } | undefined;
          if (r?.released) metrics.holdExpiryLag.observe(Math.max(0, Date.now() - Number(job.data.deadline)) / 1000);
          return r;
        }
        case holdAbandonJob.name:
          return handleHoldAbandon(seats, job);
        case holdSweepJob.name: {
          const holds = await handleHoldSweep(seats, db.db);
          // The same sweep is the safety net behind the order expiry jobs.
          return { ...holds, ordersExpired: await expireOverdueOrders(orders) };
        }
        default:
          throw new Error(`unknown job ${job.name}`);
      }
    },
    { connection: bull, prefix: keys.bullPrefix, concurrency: 32 },
  );
  const orderWorker = new Worker(
    ORDERS_QUEUE,
    async (job) => {
      switch (job.name) {
        case orderExpiryJob.name:
          return handleOrderExpiry(orders, job);
        case seatsRebuildJob.name:
          return handleSeatsRebuild(orders, job);
        default:
          throw new Error(`unknown job ${job.name}`);
      }
    },
    { connection: bull, prefix: keys.bullPrefix, concurrency: 8 },
  );
  for (const w of [worker, orderWorker]) {
    w.on("failed", (job, err) => {
      metrics.queueJobsFailed.inc({ queue: w.name });
      logger.error({ err, job: job?.name, id: job?.id }, "job failed");
    });
    w.on("error", (err) => logger.error({ err }, "worker error"));
  }
  await rebuildSeats(orders).catch((err: unknown) => logger.error({ err }, "seat rebuild at start failed"));

  const queue = new Queue(HOLDS_QUEUE, { connection: redis, prefix: keys.bullPrefix });
  await queue.upsertJobScheduler(holdSweepJob.schedulerId, { every: holdSweepJob.everyMs }, { name: holdSweepJob.name, data: {}, opts: { removeOnComplete: true, removeOnFail: 100 } });
  await orderJobs.queue.upsertJobScheduler(seatsRebuildJob.schedulerId, { every: seatsRebuildJob.everyMs }, { name: seatsRebuildJob.name, data: {}, opts: { removeOnComplete: true, removeOnFail: 100 } });
  const roomWorker = await startRoomWorker({ config, logger, db: db.db, redis, bull, keys });
  await worker.waitUntilReady();
  await orderWorker.waitUntilReady();
  logger.info("worker ready");

  return {
    isReady: () => worker.isRunning() && orderWorker.isRunning() && roomWorker.isRunning(),
    async close() {
      await worker.close();
      await orderWorker.close();
      await roomWorker.close();
      await orderJobs.close();
      await queue.close();
      redis.disconnect();
      bull.disconnect();
      await db.close();
    },
  };
}
