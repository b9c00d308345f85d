import { ConfigError, loadConfig } from "@seatdrop/config";
import { connectDb, runMigrations } from "@seatdrop/db";
import { createLogger, startStorePings } from "@seatdrop/observability";
import { connectRedis, createKeys } from "@seatdrop/redis";
import { SeatService } from "@seatdrop/seats";
import { OrderJobs } from "@seatdrop/jobs";
import { buildApp } from "./app.ts";
import { bootstrapAdmin } from "./services/bootstrap-admin.ts";

/** Shutdown gives in-flight requests this long before the process exits anyway. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

/**
 * The API process: config, connections, migrations, the admin account, then listen. SIGTERM and
 * SIGINT stop accepting connections, let in-flight requests finish, then close the pools.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger("api", config.LOG_LEVEL);
  const log = logger.child({ module: "main" });

  const db = connectDb(config.DATABASE_URL);
  await runMigrations(db);
  const redis = connectRedis(config.REDIS_URL);
  redis.on("error", (err) => log.warn({ err }, "redis connection error"));
  const keys = createKeys(config.REDIS_PREFIX);
  await bootstrapAdmin({ db, config, logger });

  const seats = new SeatService({ redis, keys, config, logger, db: db.db });
  const bull = connectRedis(config.REDIS_URL, "bullmq");
  bull.on("error", (err) => log.warn({ err }, "redis (jobs) connection error"));
  const orderJobs = new OrderJobs(bull, keys.bullPrefix);
  const app = buildApp({ config, db, redis, keys, logger, seats, orderJobs });
  const address = await app.listen({ host: config.HOST, port: config.API_PORT });
  const stopPings = startStorePings({ redis, pg: () => db.sql`select 1` });
  log.info({ address, docs: `${address}/openapi.json` }, `api listening on ${address}`);

  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    closing = true;
    log.info({ signal }, "shutting down");
    const force = setTimeout(() => {
      log.error("shutdown timed out; exiting");
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    force.unref();
    void (async () => {
      try {
        await app.close();
        stopPings();
        await redis.quit();
        await db.close();
        log.info("stopped");
        process.exit(0);
      } catch (err) {
        log.error({ err }, "error during shutdown");
        process.exit(1);
      }
    })();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`api failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
