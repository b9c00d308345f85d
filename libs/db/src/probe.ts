import postgres from "postgres";
import { SqlState } from "./postgres-errors.ts";

/**
 * One connection attempt with a short timeout, turned into one human sentence on failure, so
 * `npm start` can say "PostgreSQL is not reachable at …: do X" instead of a stack trace.
 */
export async function probeDatabase(url: string): Promise<string | null> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return null;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const where = safeUrl(url);
    if (e.code === "ECONNREFUSED" || e.code === "CONNECT_TIMEOUT" || e.code === "ENOTFOUND")
      return `PostgreSQL is not reachable at ${where} (${e.code}). Start PostgreSQL, or set DATABASE_URL to a running server.`;
    if (e.code === SqlState.invalidCatalogName) return `PostgreSQL database missing at ${where}: create it (createdb) or point DATABASE_URL at an existing one.`;
    return `PostgreSQL at ${where} refused the connection: ${e.message}. Check DATABASE_URL.`;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {}); // closing a probe that already answered; nothing to lose
  }
}

function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = u.password ? "***" : "";
    return u.toString();
  } catch {
    return "(unparseable DATABASE_URL)";
  }
}
