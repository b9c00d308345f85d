import { fileURLToPath } from "node:url";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import type { DbHandle } from "./client.ts";

export const migrationsFolder = fileURLToPath(new URL("../migrations", import.meta.url));

/**
 * Applies pending migrations. Several processes may start at once (`npm start`, tests), so the
 * run is serialised with a PostgreSQL advisory lock rather than trusting that only one migrates.
 */
export async function runMigrations(handle: DbHandle): Promise<void> {
  await handle.sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(7242001)`;
    await migrate(handle.db, { migrationsFolder });
  });
}
