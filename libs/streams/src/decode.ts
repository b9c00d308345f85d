import type { z } from "zod";

/** A schema of something Redis carries, and what decoding with it gives (for callers without zod of their own). */
export type BusSchema = z.ZodType;
export type Decoded<S extends BusSchema> = z.output<S>;

/** A message read from Redis that its schema refuses: named by what it was and the first field at fault. */
export class BusDecodeError extends Error {
  constructor(
    readonly what: string,
    readonly field: string,
    reason: string,
  ) {
    super(`${what}: ${field}: ${reason}`);
  }
}

/**
 * Decodes one message read from Redis (a pub/sub payload, a log entry's field, a hash value) with
 * its schema (libs/protocol, bus-schemas.ts): JSON first, then the schema. Throws BusDecodeError.
 */
export function decodeBus<S extends z.ZodType>(schema: S, text: string, what: string): z.output<S> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new BusDecodeError(what, "(json)", (err as Error).message);
  }
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new BusDecodeError(what, issue.path.length > 0 ? issue.path.join(".") : "(message)", issue.message);
}
