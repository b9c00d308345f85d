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
    // A failed unlock loses nothing: the advisory lock is the session's, and goes with the released connection.
    await lock`select pg_advisory_unlock(7242001)`.catch(() => {});
    lock.release();
  }
}

/**
 * Every app runs the migrations at start (idempotent and serialised by the advisory lock above), so
 * none depends on another having started first. While PostgreSQL is not reachable yet (a container
 * still starting) it retries every 2 s, saying so, for up to `timeoutMs`.
 */
export async function migrateWhenReachable(handle: DbHandle, o: { logger: { warn(obj: object, msg: string): void }; timeoutMs?: number }): Promise<void> {
  const until = Date.now() + (o.timeoutMs ?? 120_000);
  for (;;) {
    try {
      return await runMigrations(handle);
    } catch (err) {
      if (Date.now() > until) throw err;
      o.logger.warn({ err: (err as Error).message }, "migrations could not run yet (PostgreSQL unreachable?); retrying in 2 s");
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}
