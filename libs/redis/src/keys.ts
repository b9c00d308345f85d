/**
 * The one key builder (DESIGN §3.6). Nothing else in the project concatenates Redis key names.
 *
 * Every key of one event shares the hash tag `{e:<eventId>}`, so a script that touches an event's
 * seats, holds, sequence and log stays in one Redis Cluster slot. Scripts receive `eventKeys().base`
 * and derive per-seat and per-hold keys from it with the same suffixes as below (see lua/README.md).
 */
export interface EventKeys {
  /** Prefix of every key of the event, ending in `:`; Lua builds dynamic keys from it. */
  base: string;
  /** Hash: settings (ttl, max, grace, maxExt, logMax) and `epoch`; exists iff the event is loaded. */
  meta: string;
  /** Set of the event's seat ids (the seat map). */
  seatmap: string;
  /** Hash seat → `L|<userId>` (locked), `R|<ref>` (reserved), `P|<ref>` (paid); absent = available. */
  state: string;
  /** Sorted set userId → hold deadline (ms), the index of live holds for sweeps. */
  holds: string;
  /** Hash userId → seats in that user's pending and paid orders, for the per-user limit. */
  ordered: string;
  /** Counter: the event's sequence number, one per seat transition. */
  seq: string;
  /** Stream of seat events with ids `<seq>-1`, capped, for `last_seq` catch-up. */
  log: string;
  /** Pub/sub channel of the event's seat events. */
  channel: string;
  lock(seatId: string): string;
  hold(userId: string): string;
  holdSeats(userId: string): string;
  live(userId: string): string;
}

export function createKeys(prefix: string) {
  return {
    prefix,
    event(eventId: string): EventKeys {
      const base = `${prefix}:{e:${eventId}}:`;
      return {
        base,
        meta: `${base}meta`,
        seatmap: `${base}seatmap`,
        state: `${base}state`,
        holds: `${base}holds`,
        ordered: `${base}ordered`,
        seq: `${base}seq`,
        log: `${base}log`,
        channel: `${base}ch`,
        lock: (seatId) => `${base}lock:${seatId}`,
        hold: (userId) => `${base}hold:${userId}`,
        holdSeats: (userId) => `${base}hold:${userId}:seats`,
        live: (userId) => `${base}live:${userId}`,
      };
    },
    /** BullMQ's own prefix, so queues of one deployment (or test run) never meet another's. */
    bullPrefix: `${prefix}:bull`,
    /** Revoked JWT ids (sign-out), until the token would have expired anyway. */
    deniedToken: (jti: string) => `${prefix}:auth:deny:${jti}`,
  };
}

export type Keys = ReturnType<typeof createKeys>;
