import { gzipSync } from "node:zlib";
import { asc, eq } from "drizzle-orm";
import { events, seats as seatsTable } from "@seatdrop/db";
import { naturalCompare } from "@seatdrop/seats";
import type { OrdersContext } from "./context.ts";
import { OrderError } from "./order-error.ts";

/** An event's seat map as sent: its JSON bytes (and, once asked for, their gzip), at one `seq`. */
export interface EncodedSeatMap {
  epoch: string;
  seq: number;
  /** UTF-8 JSON, encoded once: each send writes these bytes, not a 9 MB string encoded again. */
  body: Buffer;
  gzip(): Buffer;
}

interface Layout {
  ids: string[];
  /** Each seat's JSON up to its state's value: `{"id":…,"price":…,"state":"`. */
  fragments: string[];
}

/** How long a process keeps an event's encoded layout fragments: a layout never changes once its event exists. */
const FRAGMENTS_MEMO_MS = 60_000;
const MEMO_MAX = 64;

/**
 * The seat map with each seat's live state, for clients that do not use the socket
 * (`GET /api/events/:id/seats`), encoded once per (event, epoch, seq) and shared (issue 17,
 * finding 2: a 100,000-seat map, 9 MB, was read from PostgreSQL and encoded anew for every
 * anonymous request, 835 ms of API CPU each, so three looping clients starved sign-ins and orders).
 *
 * The layout part of each seat (`{"id":…,"section":…,"row":…,"number":…,"price":…,"state":"`) is
 * encoded once per event and kept (a layout never changes once its event exists); a request reads
 * the event's position from Redis (two keys), and only when the map moved since the last encoding
 * is the snapshot read and the body rebuilt, by joining each seat's fragment with its state. The
 * gzip of a body is made once, for the first client that accepts it.
 */
export class SeatMapCache {
  private readonly fragments = new Map<string, { at: number; value: Promise<Layout | null> }>();
  private readonly maps = new Map<string, Promise<EncodedSeatMap>>();

  constructor(private readonly ctx: OrdersContext) {}

  async get(eventId: string): Promise<EncodedSeatMap> {
    eventId = eventId.toLowerCase();
    const layout = await this.layoutOf(eventId);
    if (!layout) throw new OrderError(404, "not_found", "no such event");
    await this.ctx.seats.ensureEventLoaded(eventId);
    const [seq, epoch] = await Promise.all([this.ctx.seats.currentSeq(eventId), this.ctx.seats.epoch(eventId)]);
    const cached = this.maps.get(eventId);
    if (cached) {
      const m = await cached.catch(() => null); // a failed build is not reused: built again below
      if (m && m.seq === seq && m.epoch === (epoch ?? "")) return m;
    }
    const built = this.build(eventId, layout);
    this.maps.set(eventId, built);
    built.catch(() => this.maps.get(eventId) === built && this.maps.delete(eventId));
    if (this.maps.size > MEMO_MAX) for (const id of this.maps.keys()) if (this.maps.size > MEMO_MAX && id !== eventId) this.maps.delete(id);
    return built;
  }

  private async build(eventId: string, { ids, fragments }: Layout): Promise<EncodedSeatMap> {
    const snap = await this.ctx.seats.snapshot({ eventId });
    const parts = new Array<string>(fragments.length);
    for (let i = 0; i < fragments.length; i++) parts[i] = `${fragments[i]}${snap.taken.get(ids[i]!)?.state ?? "available"}"}`;
    const body = Buffer.from(`{"event_id":${JSON.stringify(eventId)},"seq":${snap.seq},"seats":[${parts.join(",")}]}`);
    let zipped: Buffer | undefined;
    return { epoch: snap.epoch, seq: snap.seq, body, gzip: () => (zipped ??= gzipSync(body, { level: 1 })) };
  }

  /** The event's seat ids and each seat's encoded layout, in natural order, or null for no such event (not remembered). */
  private layoutOf(eventId: string): Promise<Layout | null> {
    const now = Date.now();
    const hit = this.fragments.get(eventId);
    if (hit && now - hit.at < FRAGMENTS_MEMO_MS) return hit.value;
    const value = (async () => {
      const [event] = await this.ctx.db.select({ id: events.id }).from(events).where(eq(events.id, eventId));
      if (!event) return null;
      const rows = await this.ctx.db.select().from(seatsTable).where(eq(seatsTable.eventId, eventId)).orderBy(asc(seatsTable.seatId));
      rows.sort((a, b) => naturalCompare(a.seatId, b.seatId));
      const fragments = rows.map((r) => {
        const seat = JSON.stringify({ id: r.seatId, section: r.section, row: r.row, number: r.number, price: r.priceCents / 100 });
        return `${seat.slice(0, -1)},"state":"`;
      });
      return { ids: rows.map((r) => r.seatId), fragments };
    })();
    this.fragments.set(eventId, { at: now, value });
    value.then(
      (v) => v === null && this.fragments.delete(eventId),
      () => this.fragments.delete(eventId),
    );
    if (this.fragments.size > MEMO_MAX) for (const [id, e] of this.fragments) if (now - e.at >= FRAGMENTS_MEMO_MS) this.fragments.delete(id);
    return value;
  }
}
