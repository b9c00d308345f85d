import { sql } from "drizzle-orm";
import { hashPassword } from "@seatdrop/auth";
import type { Config } from "@seatdrop/config";
import { uniqueViolation, type DbHandle } from "@seatdrop/db";
import type { Logger } from "@seatdrop/observability";
import { normaliseEmail } from "./user-accounts.ts";

/**
 * Makes sure the configured admin exists with the configured password: inserts it, or updates the
 * password and role of the account with ADMIN_EMAIL. One statement (upsert on the email index), so
 * several API processes starting at once cannot create two admins.
 */
export async function bootstrapAdmin(o: {
  db: DbHandle;
  config: Pick<Config, "ADMIN_EMAIL" | "ADMIN_PASSWORD">;
  logger: Logger;
}): Promise<{ id: string }> {
  const log = o.logger.child({ module: "bootstrap-admin" });
  const email = normaliseEmail(o.config.ADMIN_EMAIL);
  const passwordHash = await hashPassword(o.config.ADMIN_PASSWORD);
  try {
    const result = await o.db.db.execute<{ id: string; created: boolean }>(sql`
      insert into users (username, email, password_hash, role)
      values ('admin', ${email}, ${passwordHash}, 'admin')
      on conflict ((lower(email))) do update
        set password_hash = excluded.password_hash, role = 'admin', updated_at = now()
      returning id, (xmax = 0) as created`);
    const row = result[0];
    if (!row) throw new Error("admin upsert returned no row");
    log.info({ email, userId: row.id, created: row.created }, row.created ? "admin account created" : "admin account updated");
    return { id: row.id };
  } catch (err) {
    if (uniqueViolation(err) === "users_username_key")
      throw new Error(`cannot create the admin account ${email}: the username "admin" belongs to another user. Set ADMIN_EMAIL to that user's email, or rename that user.`);
    throw err;
  }
}
