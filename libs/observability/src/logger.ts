import { pino, type DestinationStream, type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger };

/**
 * `LOG_FORMAT` resolved: `auto` is pretty for a person at a terminal (stdout a TTY, not
 * production) and JSON for everything else (a file, a pipe, a container's log driver).
 */
export function logFormat(o: { LOG_FORMAT: "auto" | "json" | "pretty"; NODE_ENV: string }, isTty = process.stdout.isTTY === true): "json" | "pretty" {
  if (o.LOG_FORMAT !== "auto") return o.LOG_FORMAT;
  return isTty && o.NODE_ENV !== "production" ? "pretty" : "json";
}

/**
 * One pino root logger per process; modules take `logger.child({ module })`.
 *
 * Errors are logged through {@link safeError}: a failed query's bound parameters (emails, ticket
 * numbers, password hashes during an outage) never reach the log, which is kept and read far more
 * widely than the database. A request logged whole (a `req` field) goes through {@link safeRequest}:
 * the path, not the query string; the API's access lines (apps/api plugins/access-log.ts) log the
 * path alone. `destination` is for tests that read what was logged; `format` is `logFormat`'s.
 */
export function createLogger(app: string, level: string = process.env.LOG_LEVEL ?? "info", destination?: DestinationStream, format: "json" | "pretty" = "json"): Logger {
  // A logger's own serializers win over Fastify's defaults (Fastify's `req` logs the whole URL).
  const options = { name: app, level, base: { app, pid: process.pid }, serializers: { err: safeError, error: safeError, req: safeRequest } };
  if (format === "pretty")
    // In this thread (`sync`), so a line is out before a crash's exit; colours only for a terminal.
    return pino(
      options,
      pretty({
        destination: destination ?? 1,
        sync: true,
        colorize: !destination && process.stdout.isTTY === true,
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname,name,app,module",
        messageFormat: "{app}{if module}/{module}{end}: {msg}",
        singleLine: true,
      }),
    );
  return destination ? pino(options, destination) : pino(options);
}

/**
 * A request as logged: method, path without the query string (it can carry what the client typed:
 * emails, ticket numbers, tokens), host and the client's address.
 */
export function safeRequest(req: unknown): unknown {
  if (typeof req !== "object" || req === null) return req;
  const r = req as { method?: unknown; url?: unknown; host?: unknown; ip?: unknown; socket?: { remotePort?: unknown } };
  return { method: r.method, url: typeof r.url === "string" ? r.url.split("?")[0] : r.url, host: r.host, remoteAddress: r.ip, remotePort: r.socket?.remotePort };
}

/** Fields of an error (or of a PostgreSQL error) that say what went wrong without carrying data. */
const SAFE_FIELDS = ["code", "severity", "routine", "constraint_name", "table_name", "column_name", "errno", "syscall", "address", "port", "statusCode", "reason"] as const;

/**
 * A loggable copy of an error and its `cause` chain that keeps the type, the message, the stack and
 * PostgreSQL's diagnostic codes, and drops everything that can carry a query's data: drizzle's
 * `params` (also printed into its message and stack), postgres.js's `parameters`/`args`/`query`, and
 * PostgreSQL's `detail`/`where` (`Key (email)=(…) already exists`).
 */
export function safeError(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error) && (typeof err !== "object" || err === null)) return err;
  const e = err as Error & Record<string, unknown>;
  const names = postgresNames(e);
  const out: Record<string, unknown> = { type: e.constructor?.name ?? "Error", message: scrub(String(e.message ?? ""), names) };
  if (typeof e.stack === "string") out.stack = scrubStack(e.stack, String(e.message ?? ""), names);
  for (const f of SAFE_FIELDS) if (e[f] !== undefined && typeof e[f] !== "object") out[f] = e[f];
  if (e.cause !== undefined && depth < 5) out.cause = safeError(e.cause, depth + 1);
  return out;
}

/** PostgreSQL's own name fields (as postgres.js names them): what its messages may quote that is not data. */
const POSTGRES_NAME_FIELDS = ["constraint_name", "table_name", "column_name", "schema_name", "data_type_name"] as const;

/**
 * For an error from PostgreSQL (a SQLSTATE `code` and a `severity`), the names it reports; null for
 * any other error. Its message quotes names and values alike (`invalid input syntax for type
 * integer: "alice"`), so only these names may stay quoted.
 */
function postgresNames(e: Record<string, unknown>): Set<string> | null {
  if (typeof e.code !== "string" || !/^[0-9A-Z]{5}$/.test(e.code) || typeof e.severity !== "string") return null;
  return new Set(POSTGRES_NAME_FIELDS.flatMap((f) => (typeof e[f] === "string" ? [e[f]] : [])));
}

/**
 * drizzle writes `Failed query: <sql>\nparams: <values>`: keep the SQL (it has placeholders only),
 * drop the values. PostgreSQL quotes the offending value in its own messages (`invalid input syntax
 * for type integer: "<value>"`): in its messages every quoted text but the names it reports (a
 * constraint, table, column, type) is redacted, a value that looks like a name (`"alice"`) too; in
 * other messages (drizzle's SQL) quoted text that is not a plain identifier is.
 */
function scrub(message: string, postgres: Set<string> | null): string {
  const at = message.indexOf("\nparams:");
  const head = at === -1 ? message : `${message.slice(0, at)}\nparams: [redacted]`;
  const keep = (inner: string) => (postgres ? postgres.has(inner) : /^[A-Za-z_][A-Za-z0-9_$.]*$/.test(inner));
  return head.replace(/"([^"]*)"/g, (quoted, inner: string) => (keep(inner) ? quoted : '"[redacted]"'));
}

function scrubStack(stack: string, message: string, postgres: Set<string> | null): string {
  // The stack begins with "<type>: <message>"; rewrite that part, keep the frames.
  const frames = stack.indexOf("\n    at ");
  const head = frames === -1 ? stack : stack.slice(0, frames);
  const rest = frames === -1 ? "" : stack.slice(frames);
  return (head.includes(message) ? head.replace(message, scrub(message, postgres)) : scrub(head, postgres)) + rest;
}
