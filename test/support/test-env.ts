import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { loadConfig, type Config } from "@seatdrop/config";
import { connectDb, runMigrations, type DbHandle } from "@seatdrop/db";
import { connectRedis, createKeys, unlinkMatching, type Keys, type Redis } from "@seatdrop/redis";

/**
 * A private world for one test file: its own PostgreSQL database (created, migrated, dropped) and
 * its own Redis key prefix (every key under it deleted afterwards). Real servers, never mocks, and
 * nothing that collides with a running `npm start` or a second run of the suite.
 */
export interface TestEnv {
  config: Config;
  db: DbHandle;
  redis: Redis;
  keys: Keys;
  close(): Promise<void>;
}

const baseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export async function createTestEnv(overrides: Record<string, string> = {}): Promise<TestEnv> {
  const id = randomBytes(5).toString("hex");
  const dbName = `sdc_test_${id}`;
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${dbName}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${dbName}`;
  const config = loadConfig({
    ...process.env,
    NODE_ENV: "test",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    DATABASE_URL: url.toString(),
    REDIS_PREFIX: `sdct${id}`,
    JWT_SECRET: "test-secret-test-secret-test-secret",
    SERVICE_SECRET: "test-service-secret",
    ADMIN_EMAIL: "admin@test.local",
    ADMIN_PASSWORD: "admin-password",
    PAYMENT_WEBHOOK_SECRET: "test-webhook-secret-0123456789",
    ...overrides,
  });
  const db = connectDb(config.DATABASE_URL, { max: 5 });
  await runMigrations(db);
  const redis = connectRedis(config);
  const keys = createKeys(config.REDIS_PREFIX);
  return {
    config,
    db,
    redis,
    keys,
    async close() {
      await db.close();
      await unlinkMatching(redis, `${config.REDIS_PREFIX}:*`);
      redis.disconnect();
      const a = postgres(baseUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${dbName} with (force)`);
      await a.end();
    },
  };
}
