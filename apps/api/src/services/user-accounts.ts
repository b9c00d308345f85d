import { eq, sql } from "drizzle-orm";
import { hashPassword, needsRehash, verifyPassword, type Role } from "@seatdrop/auth";
import { users, type Db } from "@seatdrop/db";
import { ApiError } from "../errors.ts";
import { userConflict } from "./user-conflict.ts";

/** A user as the API shows it: never with the password hash. */
export interface UserRecord {
  id: string;
  username: string;
  email: string;
  role: Role;
}

const publicColumns = { id: users.id, username: users.username, email: users.email, role: users.role };

/**
 * Creates a user with a server-side scrypt hash of `password`. A taken email or username becomes a
 * 409 naming the field; the unique indexes decide, so two racing sign-ups cannot both win.
 */
export async function createUser(o: { db: Db; username: string; email: string; password: string; role?: Role }): Promise<UserRecord> {
  const passwordHash = await hashPassword(o.password);
  try {
    const [row] = await o.db
      .insert(users)
      .values({ username: o.username, email: normaliseEmail(o.email), passwordHash, role: o.role ?? "user" })
      .returning(publicColumns);
    if (!row) throw new Error("insert into users returned no row");
    return row;
  } catch (err) {
    throw userConflict(err);
  }
}

/** A hash of a password nobody has, verified when the email is unknown so both failures take as long. */
let decoyHash: Promise<string> | null = null;

/**
 * Checks an email and password. Unknown email and wrong password are the same 401, and take the
 * same time, so sign-in cannot be used to find out who has an account.
 */
export async function authenticateUser(o: { db: Db; email: string; password: string }): Promise<UserRecord> {
  const [row] = await o.db
    .select({ ...publicColumns, passwordHash: users.passwordHash })
    .from(users)
    .where(sql`lower(${users.email}) = ${normaliseEmail(o.email)}`)
    .limit(1);
  decoyHash ??= hashPassword("decoy password, never valid");
  const ok = await verifyPassword(o.password, row?.passwordHash ?? (await decoyHash));
  if (!row || !ok) throw new ApiError(401, "invalid_credentials", "email or password is incorrect");
  if (needsRehash(row.passwordHash)) {
    // Stored with weaker parameters than today's: upgrade while we hold the plaintext.
    await o.db.update(users).set({ passwordHash: await hashPassword(o.password), updatedAt: new Date() }).where(eq(users.id, row.id));
  }
  const { passwordHash: _hash, ...user } = row;
  return user;
}

/** Emails are unique regardless of case (the index is on lower(email)), so they are stored lower-cased. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}
