import { createHash } from "node:crypto";
import type { Db } from "@seatdrop/db";
import { naturalCompare } from "@seatdrop/seats";
import type { EventLayoutView } from "../schemas/event.ts";
import { toSeatView } from "./event-views.ts";
import { findEventWithSeats } from "./read-events.ts";

/** An event's layout as sent: the exact bytes and their strong ETag. */
export interface EncodedLayout {
  body: string;
  etag: string;
}

/**
 * How long a process answers a layout from memory. At a drop's start thousands of clients fetch
 * the same 100,000-seat layout within seconds; one database read and one encoding serve them all.
 * A layout does not change once its event exists; a deleted event's layout may be served this
 * much longer.
 */
const LAYOUT_MEMO_MS = 10_000;
const LAYOUT_MEMO_MAX = 64;

/**
 * Encoded layouts by event id, with concurrent requests for one event sharing one read
 * (single-flight) and the result kept for LAYOUT_MEMO_MS.
 */
export class LayoutCache {
  private readonly entries = new Map<string, { at: number; value: Promise<EncodedLayout | null> }>();

  constructor(private readonly db: Db) {}

  get(eventId: string): Promise<EncodedLayout | null> {
    const now = Date.now();
    const hit = this.entries.get(eventId);
    if (hit && now - hit.at < LAYOUT_MEMO_MS) return hit.value;
    const value = encodeLayout(this.db, eventId);
    this.entries.set(eventId, { at: now, value });
    // A failed read or a missing event is not remembered: the next request asks again.
    value.then(
      (v) => v === null && this.entries.delete(eventId),
      () => this.entries.delete(eventId),
    );
    if (this.entries.size > LAYOUT_MEMO_MAX) {
      for (const [id, e] of this.entries) if (now - e.at >= LAYOUT_MEMO_MS || this.entries.size > LAYOUT_MEMO_MAX) this.entries.delete(id);
    }
    return value;
  }
}

/** Reads the event's seats and encodes its layout; null when there is no such event. */
export async function encodeLayout(db: Db, eventId: string): Promise<EncodedLayout | null> {
  const found = await findEventWithSeats({ db, eventId });
  if (!found) return null;
  const sections = [...new Set(found.seats.flatMap((s) => (s.section === null ? [] : [s.section])))].sort(naturalCompare);
  const view: EventLayoutView = { event_id: found.event.id, seat_count: found.seatCount, sections, seats: found.seats.map(toSeatView) };
  // Encoded here (not by the route's serializer) so the ETag is the hash of the exact bytes sent.
  const body = JSON.stringify(view);
  return { body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 32)}"` };
}
