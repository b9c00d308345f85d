import { connectDb, runMigrations } from "@seatdrop/db";
import { runApp, startStorePings } from "@seatdrop/observability";
import { connectRedis, createKeys, describeRedis } from "@seatdrop/redis";
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
await runApp("api", async ({ config, logger }) => {
  const log = logger.child({ module: "main" });

  const db = connectDb(config.DATABASE_URL);
  await runMigrations(db);
  const redis = connectRedis(config);
  redis.on("error", (err) => log.warn({ err }, "redis connection error"));
  const keys = createKeys(config.REDIS_PREFIX);
  await bootstrapAdmin({ db, config, logger });

  const seats = new SeatService({ redis, keys, config, logger, db: db.db });
  const bull = connectRedis(config, "bullmq");
  bull.on("error", (err) => log.warn({ err }, "redis (jobs) connection error"));
  const orderJobs = new OrderJobs(bull, keys.bullPrefix);
  const app = buildApp({ config, db, redis, keys, logger, seats, orderJobs });
  const address = await app.listen({ host: config.HOST, port: config.API_PORT });
  const stopPings = startStorePings({ redis, pg: () => db.sql`select 1` });
  log.info({ address, docs: `${address}/openapi.json`, redis: describeRedis(config) }, `api listening on ${address}`);

  return {
    stopTimeoutMs: SHUTDOWN_TIMEOUT_MS,
    async stop() {
      await app.close();
      stopPings();
      await redis.quit();
      await db.close();
    },
  };
});
