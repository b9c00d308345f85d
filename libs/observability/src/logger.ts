import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/**
 * One pino root logger per process; modules take `logger.child({ module })`.
 *
 * Errors are logged through {@link safeError}: a failed query's bound parameters (emails, ticket
 * numbers, password hashes during an outage — issue 8, finding 7) never reach the log.
 * `destination` is for tests that read what was logged.
 */
export function createLogger(app: string, level: string = process.env.LOG_LEVEL ?? "info", destination?: DestinationStream): Logger {
  const options = { name: app, level, base: { app, pid: process.pid }, serializers: { err: safeError, error: safeError } };
  return destination ? pino(options, destination) : pino(options);
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
  const out: Record<string, unknown> = { type: e.constructor?.name ?? "Error", message: scrub(String(e.message ?? "")) };
  if (typeof e.stack === "string") out.stack = scrubStack(e.stack, String(e.message ?? ""));
  for (const f of SAFE_FIELDS) if (e[f] !== undefined && typeof e[f] !== "object") out[f] = e[f];
  if (e.cause !== undefined && depth < 5) out.cause = safeError(e.cause, depth + 1);
  return out;
}

/**
 * drizzle writes `Failed query: <sql>\nparams: <values>`: keep the SQL (it has placeholders only),
 * drop the values. PostgreSQL quotes the offending value in its own messages (`invalid input syntax
 * for type integer: "<value>"`): quoted text that is not a plain identifier (a constraint or type
 * name) is redacted too.
 */
function scrub(message: string): string {
  const at = message.indexOf("\nparams:");
  const head = at === -1 ? message : `${message.slice(0, at)}\nparams: [redacted]`;
  return head.replace(/"([^"]*)"/g, (quoted, inner: string) => (/^[A-Za-z_][A-Za-z0-9_$.]*$/.test(inner) ? quoted : '"[redacted]"'));
}

function scrubStack(stack: string, message: string): string {
  // The stack begins with "<type>: <message>"; rewrite that part, keep the frames.
  const frames = stack.indexOf("\n    at ");
  const head = frames === -1 ? stack : stack.slice(0, frames);
  const rest = frames === -1 ? "" : stack.slice(frames);
  return (head.includes(message) ? head.replace(message, scrub(message)) : scrub(head)) + rest;
}
