import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { gzip as gzipCb } from "node:zlib";
import { EventMemo, type Db } from "@seatdrop/db";
import { naturalCompare } from "@seatdrop/seats";
import type { EventLayoutView } from "../schemas/event.ts";
import { toSeatView } from "./event-views.ts";
import { findEventWithSeats } from "./read-events.ts";

const gzip = promisify(gzipCb);

/** An event's layout as sent: the exact bytes, their strong ETag, and their gzip (made once, when first asked for). */
export interface EncodedLayout {
  body: Buffer;
  etag: string;
  gzip(): Promise<Buffer>;
}

/**
 * Encoded layouts by event id. At a drop's start thousands of clients fetch the same
 * 100,000-seat layout within seconds; one database read and one encoding serve them all, and the
 * layout is kept while it is read (a layout does not change once its event exists; EventMemo
 * confirms the event still exists every minute, so a deleted event's layout goes within that).
 * At most LAYOUT_MEMO_MAX events are kept: a big venue's layout is megabytes.
 */
export class LayoutCache {
  private readonly memo: EventMemo<EncodedLayout>;

  constructor(db: Db) {
    this.memo = new EventMemo(db, { load: (id) => encodeLayout(db, id), recheckMs: LAYOUT_RECHECK_MS, max: LAYOUT_MEMO_MAX });
  }

  get(eventId: string): Promise<EncodedLayout | null> {
    return this.memo.get(eventId);
  }
}

const LAYOUT_RECHECK_MS = 60_000;
const LAYOUT_MEMO_MAX = 16;

/** Reads the event's seats and encodes its layout; null when there is no such event. */
export async function encodeLayout(db: Db, eventId: string): Promise<EncodedLayout | null> {
  const found = await findEventWithSeats({ db, eventId });
  if (!found) return null;
  const sections = [...new Set(found.seats.flatMap((s) => (s.section === null ? [] : [s.section])))].sort(naturalCompare);
  const view: EventLayoutView = { event_id: found.event.id, seat_count: found.seatCount, sections, seats: found.seats.map(toSeatView) };
  // Encoded here (not by the route's serializer) so the ETag is the hash of the exact bytes sent.
  const body = Buffer.from(JSON.stringify(view));
  let zipped: Promise<Buffer> | undefined;
  return { body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 32)}"`, gzip: () => (zipped ??= gzip(body, { level: 6 })) };
}
