import { connectDb, migrateWhenReachable } from "@seatdrop/db";
import { runApp, startStorePings } from "@seatdrop/observability";
import { connectRedis, describeRedis } from "@seatdrop/redis";
import { startWorkerProbes } from "./probes.ts";
import { startWorker, type WorkerHandle } from "./worker.ts";

await runApp("worker", async ({ config, logger }) => {
  const redis = connectRedis(config);
  redis.on("error", (err: Error) => logger.warn({ err: err.message }, "redis connection error"));
  const db = connectDb(config.DATABASE_URL, { max: 2 }); // two: the migrations hold a lock on one
  let worker: WorkerHandle | undefined;
  // The probe port opens first: "starting" (503) while the migrations run, 200 once jobs run.
  const probes = await startWorkerProbes({ config, logger, redis, db, worker: () => worker });
  // Migrations first (idempotent, serialised across processes), never "relation does not exist".
  await migrateWhenReachable(db, { logger });
  const started = await startWorker({ config, logger });
  worker = started;
  const stopPings = startStorePings({ redis, pg: () => db.sql`select 1` });
  logger.info({ redis: describeRedis(config) }, "worker ready");
  return {
    // BullMQ's close waits for the workers' blocking connections and jobs in flight; after a Redis
    // Cluster failover it was seen waiting for ever (test/redis-cluster.test.ts's teardown, about one
    // run in two). A job cut off here is taken up again as stalled, so the stop is bounded instead.
    stopTimeoutMs: 15_000,
    async stop() {
      stopPings();
      await Promise.all([started.close(), probes.close()]);
      await db.close();
    },
  };
});
