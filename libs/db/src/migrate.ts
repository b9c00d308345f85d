import { fileURLToPath } from "node:url";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import type { DbHandle } from "./client.ts";

export const migrationsFolder = fileURLToPath(new URL("../migrations", import.meta.url));

/**
 * Applies pending migrations. Several processes may start at once (`npm start`, tests), so the
 * run is serialised with a session-level PostgreSQL advisory lock held on a reserved connection
 * while the migrator uses another one: the pool needs at least two connections.
 */
export async function runMigrations(handle: DbHandle): Promise<void> {
  const lock = await handle.sql.reserve();
  try {
    await lock`select pg_advisory_lock(7242001)`;
    await migrate(handle.db, { migrationsFolder });
  } finally {
    await lock`select pg_advisory_unlock(7242001)`.catch(() => {});
    lock.release();
  }
}
