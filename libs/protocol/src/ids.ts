/**
 * The id shapes the wire accepts, defined once so no entry point accepts what another refuses: the
 * Phoenix channels, the legacy seat dialect, the seat service and the chat service all test against these.
 */

/** A seat id such as `A_2_2`: short and free of anything a Redis key or a topic would trip on. */
export const SEAT_ID_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Lower-case only: PostgreSQL reads a UUID in any case, and a second spelling would be a second
 * seat map in Redis (and a topic broadcasts never reach).
 */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Event, user, order and message ids on the wire are lower-case UUIDs (one spelling per topic). */
export function isUuid(v: unknown): v is string {
  return typeof v === "string" && UUID_RE.test(v);
}
