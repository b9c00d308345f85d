import { eq } from "drizzle-orm";
import { hashPassword } from "@seatdrop/auth";
import { foreignKeyViolation, users, type Db } from "@seatdrop/db";
import { ApiError, notFound } from "../errors.ts";
import { userConflict } from "./user-conflict.ts";
import { normaliseEmail, type UserRecord } from "./user-accounts.ts";

const publicColumns = { id: users.id, username: users.username, email: users.email, role: users.role };

/** Loads a user without its password hash; 404 when there is none. */
export async function getUser(o: { db: Db; userId: string }): Promise<UserRecord> {
  const [row] = await o.db.select(publicColumns).from(users).where(eq(users.id, o.userId)).limit(1);
  if (!row) throw notFound("user");
  return row;
}

/** Changes a user's username, email and/or password (hashed here); a taken name or email is a 409. */
export async function updateUser(o: {
  db: Db;
  userId: string;
  changes: { username?: string; email?: string; password?: string };
}): Promise<{ user: UserRecord; tokensValidAfter: Date | null }> {
  const now = new Date();
  const set: Partial<typeof users.$inferInsert> = { updatedAt: now };
  if (o.changes.username !== undefined) set.username = o.changes.username;
  if (o.changes.email !== undefined) set.email = normaliseEmail(o.changes.email);
  // A new password ends every session issued before it (docs/reliability.md, round one, finding 3).
  if (o.changes.password !== undefined) {
    set.passwordHash = await hashPassword(o.changes.password);
    set.tokensValidAfter = now;
  }
  try {
    const [row] = await o.db.update(users).set(set).where(eq(users.id, o.userId)).returning(publicColumns);
    if (!row) throw notFound("user");
    return { user: row, tokensValidAfter: set.tokensValidAfter ?? null };
  } catch (err) {
    throw userConflict(err);
  }
}

/**
 * Deletes a user; their tickets stay with the event, unassigned (foreign key `on delete set null`).
 * A user with orders cannot go: orders are the sales record (foreign key `on delete restrict`), so
 * that is a 409 `user_has_orders`, never a 500 (docs/reliability.md, round one, finding 7).
 */
export async function deleteUser(o: { db: Db; userId: string }): Promise<void> {
  let deleted;
  try {
    deleted = await o.db.delete(users).where(eq(users.id, o.userId)).returning({ id: users.id });
  } catch (err) {
    if (foreignKeyViolation(err)?.startsWith("orders_"))
      throw new ApiError(409, "user_has_orders", "this user has orders, which are kept as the sales record; the account cannot be deleted");
    throw err;
  }
  if (deleted.length === 0) throw notFound("user");
}
