import type { Config } from "@seatdrop/config";
import { connectDb } from "@seatdrop/db";
import {
  HOLDS_QUEUE,
  ORDERS_QUEUE,
  OrderJobs,
  holdAbandonJob,
  holdAbandonScanJob,
  holdReindexJob,
  holdSweepJob,
  orderExpiryJob,
  ordersSweepJob,
  roomReconcileJob,
  seatsRebuildJob,
} from "@seatdrop/jobs";
import { expireOverdueOrders, rebuildSeats, type OrdersContext } from "@seatdrop/orders";
import type { Logger } from "@seatdrop/observability";
import { connectRedis, createKeys } from "@seatdrop/redis";
import { SeatService } from "@seatdrop/seats";
import { startFailoverRecovery } from "./failover-recovery.ts";
import { handleHoldAbandon } from "./jobs/hold-abandon.ts";
import { handleHoldAbandonScan, handleHoldReindex, handleHoldSweep } from "./jobs/hold-sweep.ts";
import { startRoomWorker } from "./jobs/room-worker.ts";
import { handleOrderExpiry } from "./jobs/order-expiry.ts";
import { handleSeatsRebuild } from "./jobs/seats-rebuild.ts";
import { startQueueWorker } from "./queue-worker.ts";
import { SchedulerKeeper } from "./schedulers.ts";

export interface WorkerHandle {
  isReady(): boolean;
  close(): Promise<void>;
}

/**
 * Starts the BullMQ workers: hold expiry (the hold sweep over the cluster-wide index), abandoned
 * holds (a job per user who left, and a scan for users whose node died), order expiry and seat
 * rebuilds, chat rooms. On start it rebuilds every current event's reserved and paid seats from
 * PostgreSQL (Redis may have lost them while the worker was down). Its Job Schedulers are
 * re-created whenever Redis lost them (SchedulerKeeper). On a Redis Cluster it watches for shard
 * failovers and restarts the epochs of the events on a promoted replica (failover-recovery.ts).
 */
export async function startWorker(o: { config: Config; logger: Logger }): Promise<WorkerHandle> {
  const { config } = o;
  const logger = o.logger.child({ module: "worker" });
  const redis = connectRedis(config);
  const bull = connectRedis(config, "bullmq");
  const db = connectDb(config.DATABASE_URL, { max: 4 });
  const keys = createKeys(config.REDIS_PREFIX);
  const seats = new SeatService({ redis, keys, config, logger, db: db.db });
  const orderJobs = new OrderJobs(redis, keys.bullPrefix);
  const orders: OrdersContext = { db: db.db, seats, config, logger: logger.child({ module: "orders" }), jobs: orderJobs };

  const sweepGuard = { running: false };
  const workerOpts = { connection: bull, prefix: keys.bullPrefix, logger };
  const worker = startQueueWorker(
    HOLDS_QUEUE,
    {
      [holdSweepJob.name]: () => handleHoldSweep(seats, sweepGuard),
      [holdAbandonJob.name]: (job) => handleHoldAbandon(seats, job),
      [holdAbandonScanJob.name]: () => handleHoldAbandonScan(seats),
      [holdReindexJob.name]: () => handleHoldReindex(seats, db.db),
    },
    { ...workerOpts, concurrency: 32 },
  );
  const orderWorker = startQueueWorker(
    ORDERS_QUEUE,
    {
      [orderExpiryJob.name]: (job) => handleOrderExpiry(orders, job),
      [seatsRebuildJob.name]: (job) => handleSeatsRebuild(orders, job),
      [ordersSweepJob.name]: async () => ({ ordersExpired: await expireOverdueOrders(orders) }),
    },
    { ...workerOpts, concurrency: 8 },
  );
  await rebuildSeats(orders).catch((err: unknown) => logger.error({ err }, "seat rebuild at start failed"));

  const schedulers = new SchedulerKeeper({
    connection: redis,
    prefix: keys.bullPrefix,
    specs: [holdSweepJob, holdAbandonScanJob, holdReindexJob, ordersSweepJob, seatsRebuildJob, roomReconcileJob],
    checkEveryMs: config.WORKER_SCHEDULER_CHECK_MS,
    logger,
  });
  await schedulers.start();
  // The hold index may be missing (first start on this version, or Redis lost it): rebuild it now.
  await handleHoldReindex(seats, db.db).catch((err: unknown) => logger.error({ err }, "hold re-index at start failed"));
  const failovers = startFailoverRecovery({ config, redis, keys, seats, db: db.db, logger });
  const roomWorker = await startRoomWorker({ config, logger, db: db.db, redis, bull, keys });
  await worker.waitUntilReady();
  await orderWorker.waitUntilReady();
  logger.info("worker ready");

  return {
    isReady: () => worker.isRunning() && orderWorker.isRunning() && roomWorker.isRunning(),
    async close() {
      failovers?.stop();
      await worker.close();
      await orderWorker.close();
      await roomWorker.close();
      await schedulers.close();
      await orderJobs.close();
      redis.disconnect();
      bull.disconnect();
      await db.close();
    },
  };
}
