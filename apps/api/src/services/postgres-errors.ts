import { conflict } from "../errors.ts";

/** The PostgreSQL error fields this app reads. */
interface PgError {
  code: string;
  constraint_name?: string;
}

/**
 * Finds the PostgreSQL error behind a failed query. drizzle wraps driver errors (DrizzleQueryError)
 * with the original as `cause`, so the error code is one or more levels down.
 */
export function postgresError(err: unknown): PgError | null {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return e as PgError;
  }
  return null;
}

/** The constraint a unique violation (23505) hit, or null for any other error. */
export function uniqueViolation(err: unknown): string | null {
  const pg = postgresError(err);
  return pg?.code === "23505" ? (pg.constraint_name ?? "") : null;
}

/**
 * A user write that hit the unique email or username: the 409 naming the field. Anything else is
 * returned as is, for the caller to rethrow.
 */
export function userConflict(err: unknown): unknown {
  const constraint = uniqueViolation(err);
  if (constraint === "users_email_key") return conflict("email", "email has already been taken");
  if (constraint === "users_username_key") return conflict("username", "username has already been taken");
  return err;
}
