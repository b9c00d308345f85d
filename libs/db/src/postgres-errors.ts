/**
 * Reading PostgreSQL errors: the one place that knows SQLSTATE codes and how drizzle wraps the
 * driver's error, so no caller compares `err.code` to a string by hand.
 */

/** The SQLSTATE codes this code base reacts to (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
export const SqlState = {
  uniqueViolation: "23505",
  foreignKeyViolation: "23503",
  /** Class 22, data exception: a number out of range, U+0000 in text, a malformed value. */
  dataExceptionClass: "22",
  invalidCatalogName: "3D000",
} as const;

/** The PostgreSQL error fields this code base reads. */
export interface PgError {
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
  return pg?.code === SqlState.uniqueViolation ? (pg.constraint_name ?? "") : null;
}

/** The constraint a foreign-key violation (23503) hit, or null for any other error. */
export function foreignKeyViolation(err: unknown): string | null {
  const pg = postgresError(err);
  return pg?.code === SqlState.foreignKeyViolation ? (pg.constraint_name ?? "") : null;
}

/** Whether PostgreSQL refused a value itself (class 22: out of range, malformed, U+0000 in text). */
export function isDataException(err: unknown): boolean {
  return postgresError(err)?.code.startsWith(SqlState.dataExceptionClass) ?? false;
}
