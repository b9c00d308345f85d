import { encodePhx } from "./phoenix.ts";
import { holdReleaseReasons, type SeatEvent } from "./seat-events.ts";
import { seatsTopic } from "./topics.ts";

/**
 * How a seat event reads in each dialect. `forAuthor` is the connection whose push caused it,
 * `forOwner` a connection of the user whose hold was released as a whole.
 */
export interface WirePush {
  event: string;
  payload: Record<string, unknown>;
}

/** Whether the event is part of a whole-hold release (expiry, abandonment), which its owner hears as `deleted`. */
export function isHoldRelease(ev: SeatEvent): boolean {
  return ev.t === "unlocked" && ev.why !== undefined && holdReleaseReasons.has(ev.why);
}

/** The Phoenix push every watcher (not the author) gets. */
export function phxBroadcast(ev: SeatEvent): WirePush {
  const payload: Record<string, unknown> = { seat: ev.seat, seq: ev.seq };
  if (ev.why && ev.why !== "unlocked") payload.reason = ev.why;
  return { event: ev.t, payload };
}

/** The Phoenix push the author of a lock or unlock gets. */
export function phxForAuthor(ev: SeatEvent): WirePush {
  if (ev.t === "locked") return { event: "lockedForYou", payload: { seat: ev.seat, seq: ev.seq } };
  if (ev.t === "unlocked") return { event: "unlockedForYou", payload: { seat: ev.seat, seq: ev.seq } };
  return phxBroadcast(ev);
}

/** The Phoenix push the owner of a released hold gets, for all its seats at once. */
export function phxDeleted(events: SeatEvent[]): WirePush {
  const last = events[events.length - 1]!;
  return { event: "deleted", payload: { seats: events.map((e) => e.seat), seq: last.seq, reason: last.why } };
}

/**
 * A run of events as one user should see it (catch-up replies): own locks as `…ForYou`, own
 * released holds grouped into `deleted`, everything else as broadcast.
 */
export function phxPushesFor(events: SeatEvent[], userId: string | null): WirePush[] {
  const out: WirePush[] = [];
  for (let i = 0; i < events.length; i++) {
    const ev = events[i]!;
    const own = userId !== null && ev.u === userId;
    if (own && isHoldRelease(ev)) {
      const run = [ev];
      while (i + 1 < events.length && events[i + 1]!.u === userId && events[i + 1]!.why === ev.why && isHoldRelease(events[i + 1]!)) run.push(events[++i]!);
      out.push(phxDeleted(run));
    } else out.push(own ? phxForAuthor(ev) : phxBroadcast(ev));
  }
  return out;
}

/** The legacy seat dialect's frames for a seat event: `{"event": name, "data": seat}`. A revoke keeps the legacy dialect's own name, `revoked`. */
export function seedBroadcast(ev: SeatEvent): { event: string; data: unknown } {
  if (ev.why === "revoked") return { event: "revoked", data: ev.seat };
  return { event: ev.t, data: ev.seat };
}

export function seedForAuthor(ev: SeatEvent): { event: string; data: unknown } {
  if (ev.t === "locked") return { event: "lockedForYou", data: ev.seat };
  if (ev.t === "unlocked") return { event: "unlockedForYou", data: ev.seat };
  return seedBroadcast(ev);
}

export function seedDeleted(events: SeatEvent[]): { event: string; data: unknown } {
  return { event: "deleted", data: events.map((e) => e.seat) };
}

/** A seat's state as clients see it. */
export type SeatState = "available" | "locked" | "reserved" | "paid";

/** The state a seat is in after the event (every kind of release leaves it available). */
export function seatStateAfter(ev: SeatEvent): SeatState {
  switch (ev.t) {
    case "locked":
      return "locked";
    case "reserved":
      return "reserved";
    case "paid":
      return "paid";
    default:
      return "available";
  }
}

/** The Phoenix event of a coalesced seat frame, for joins that opt in with `{"changes": true}`. */
export const CHANGES_EVENT = "changes";

/**
 * One coalesced frame of a seat stream: the final state, after every event up to `seq`, of each
 * seat (of the stream's section, when it has one) that changed since the stream's previous frame,
 * whose `seq` was `since`. A client holding a seq below `since` missed a frame and rejoins with
 * `last_seq`; one holding `since` or more applies it (final states are idempotent).
 */
export interface ChangesPayload {
  since: number;
  seq: number;
  seats: Record<string, SeatState>;
  /** The section the stream covers; absent on the whole-event stream. */
  section?: string;
}

/** A `changes` broadcast (`[null, null, "seats:<id>", "changes", payload]`), encoded once per stream and tick. */
export function encodeChanges(eventId: string, payload: ChangesPayload): string {
  return encodePhx(null, null, seatsTopic(eventId), CHANGES_EVENT, payload);
}

/** Final states of the seats the events touched, in order (the last event of a seat wins). */
export function finalStates(events: readonly SeatEvent[], filter?: (seat: string) => boolean): Record<string, SeatState> {
  const out: Record<string, SeatState> = {};
  for (const ev of events) if (!filter || filter(ev.seat)) out[ev.seat] = seatStateAfter(ev);
  return out;
}
