import { ConfigError, loadConfig } from "@seatdrop/config";
import { connectDb, migrateWhenReachable } from "@seatdrop/db";
import { createLogger, startStorePings } from "@seatdrop/observability";
import { connectRedis } from "@seatdrop/redis";
import { startWorkerProbes } from "./probes.ts";
import { startWorker, type WorkerHandle } from "./worker.ts";

const logger = createLogger("worker");
// A stray rejection is a bug to log, not a reason to drop every socket and job of this process.
process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled promise rejection"));
try {
  const config = loadConfig();
  const redis = connectRedis(config.REDIS_URL);
  redis.on("error", (err: Error) => logger.warn({ err: err.message }, "redis connection error"));
  const db = connectDb(config.DATABASE_URL, { max: 2 }); // two: the migrations hold a lock on one
  let worker: WorkerHandle | undefined;
  // The probe port opens first: "starting" (503) while the migrations run, 200 once jobs run.
  const probes = await startWorkerProbes({ config, logger, redis, db, worker: () => worker });
  // Migrations first (idempotent, serialised across processes), never "relation does not exist".
  await migrateWhenReachable(db, { logger });
  worker = await startWorker({ config, logger });
  const stopPings = startStorePings({ redis, pg: () => db.sql`select 1` });
  logger.info("worker ready");
  const stop = () => {
    stopPings();
    Promise.all([worker!.close(), probes.close()])
      .then(() => db.close())
      .then(() => process.exit(0), () => process.exit(1));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`worker: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
