import { createHash } from "node:crypto";
import { eq } from "drizzle-orm";
import { events, type Db } from "@seatdrop/db";
import type { RoomStatus, WaitingRooms } from "@seatdrop/queue";
import type { WaitingRoomDrawView } from "../schemas/waiting-room.ts";

/**
 * How long a process answers a room's status from memory. Every page in front of a room polls it
 * (every 3 s before the draw), so 100,000 waiters would otherwise cost each API process thousands of
 * PostgreSQL reads and Redis scripts a second for the same figures.
 */
const STATUS_MEMO_MS = 1000;
/** The published draw does not change once made (up to 100,000 keys, ~7 MB): read and encoded once per this. */
const DRAW_MEMO_MS = 10_000;
/** "Not drawn yet" is remembered only this long: at `sales_open_at` every page asks for the draw within seconds. */
const NOT_DRAWN_MEMO_MS = 1000;
const MEMO_MAX = 256;

/**
 * Values by event id, with concurrent requests sharing one read (single-flight), each kept for
 * `ttlMs` (a null value for `nullTtlMs`).
 */
class Memo<T> {
  private readonly entries = new Map<string, { at: number; ttl: number; value: Promise<T | null> }>();

  constructor(
    private readonly ttlMs: number,
    private readonly nullTtlMs: number,
    private readonly load: (eventId: string) => Promise<T | null>,
  ) {}

  get(eventId: string): Promise<T | null> {
    const now = Date.now();
    const hit = this.entries.get(eventId);
    if (hit && now - hit.at < hit.ttl) return hit.value;
    const value = this.load(eventId);
    const entry = { at: now, ttl: this.ttlMs, value };
    this.entries.set(eventId, entry);
    value.then(
      (v) => {
        if (v === null) entry.ttl = this.nullTtlMs;
      },
      // A failure is not remembered: the next request asks again.
      () => this.entries.get(eventId) === entry && this.entries.delete(eventId),
    );
    if (this.entries.size > MEMO_MAX) for (const [id, e] of this.entries) if (now - e.at >= e.ttl) this.entries.delete(id);
    return value;
  }

  forget(eventId: string): void {
    this.entries.delete(eventId);
  }
}

/** The published draw as sent: its exact bytes and their strong ETag. */
export interface EncodedDraw {
  body: string;
  etag: string;
}

/**
 * The public reads of a room (`GET /api/events/:id/waiting_room` and `…/draw`), remembered briefly
 * per process, and why there is nothing to show when there is not.
 */
export class RoomReads {
  private readonly statuses: Memo<RoomStatus>;
  private readonly draws: Memo<EncodedDraw>;

  constructor(
    private readonly rooms: WaitingRooms,
    private readonly db: Db,
  ) {
    this.statuses = new Memo(STATUS_MEMO_MS, STATUS_MEMO_MS, (id) => rooms.status(id));
    this.draws = new Memo(DRAW_MEMO_MS, NOT_DRAWN_MEMO_MS, async (id) => {
      const d = await rooms.drawResult(id);
      if (!d) return null;
      const view: WaitingRoomDrawView = { seed: d.seed, keys: d.keys, drawn_at: d.drawn_at };
      const body = JSON.stringify(view);
      return { body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 32)}"` };
    });
  }

  /** The room's status, at most STATUS_MEMO_MS old; null when the event is unknown or has no room. */
  status(eventId: string): Promise<RoomStatus | null> {
    return this.statuses.get(eventId);
  }

  /** The room's status read now (after an operator changed it), which later reads start from. */
  async fresh(eventId: string): Promise<RoomStatus | null> {
    this.statuses.forget(eventId);
    return this.statuses.get(eventId);
  }

  /** The published draw, encoded; null before the draw (or without a room). */
  draw(eventId: string): Promise<EncodedDraw | null> {
    return this.draws.get(eventId);
  }

  /** Why a room has nothing to show: the event is unknown, or has no room (else it has one). */
  async roomOf(eventId: string): Promise<"no_event" | "no_room" | { salesOpenAt: Date | null }> {
    const [row] = await this.db.select({ room: events.waitingRoom, salesOpenAt: events.salesOpenAt }).from(events).where(eq(events.id, eventId)).limit(1);
    if (!row) return "no_event";
    if (!row.room) return "no_room";
    return { salesOpenAt: row.salesOpenAt };
  }
}
