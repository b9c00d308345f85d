import { constants, crc32, deflateRawSync } from "node:zlib";
import { asc, eq } from "drizzle-orm";
import { EventMemo, events, seats as seatsTable } from "@seatdrop/db";
import { seatStateAfter, type SeatState } from "@seatdrop/protocol";
import { naturalCompare } from "@seatdrop/seats";
import type { OrdersContext } from "./context.ts";
import { OrderError } from "./order-error.ts";

/** An event's seat map as sent: its JSON bytes (and, once asked for, their gzip), at one `seq`. */
export interface EncodedSeatMap {
  epoch: string;
  seq: number;
  /** UTF-8 JSON, encoded once: each send writes these bytes, not a 9 MB string encoded again. */
  body: Buffer;
  /** The body gzipped, made once for the first client that accepts it (from the slices' kept deflates). */
  gzip(): Promise<Buffer>;
}

interface Layout {
  ids: string[];
  index: Map<string, number>;
  /** Each seat's JSON up to its state's value: `{"id":…,"price":…,"state":"`. */
  fragments: string[];
}

/** The live map of one event, kept between reads and moved forward by the event's log. */
interface LiveMap {
  layout: Layout;
  epoch: string;
  seq: number;
  states: SeatState[];
  /** The encoded seats of each CHUNK-seat slice, with the comma before it (none before the first). */
  chunks: Buffer[];
  /** Each slice deflated on its own (raw, ending in a sync flush), once a gzip reader asked; undefined once stale. */
  deflated: (Buffer | undefined)[];
  dirty: Set<number>;
  encoded: EncodedSeatMap | null;
}

/** Seats per encoded slice: a seat change re-encodes its slice only (≈ 45 KB), not the 9 MB map. */
const CHUNK = 512;
/** How often a kept layout's event is confirmed to still exist (see EventMemo). */
const LAYOUT_RECHECK_MS = 60_000;
const MEMO_MAX = 16;

/**
 * The seat map with each seat's live state, for clients that do not use the socket
 * (`GET /api/events/:id/seats`), encoded once per (event, epoch, seq) and shared
 * (docs/reliability.md, round two, finding 2: a 100,000-seat map, 9 MB, read from PostgreSQL and
 * encoded anew for every anonymous request cost 835 ms of API CPU each, so three looping clients
 * starved sign-ins and orders).
 *
 * The layout part of each seat (`{"id":…,"section":…,"row":…,"number":…,"price":…,"state":"`) is
 * encoded once per event and kept (EventMemo: a layout never changes once its event exists). A read
 * asks Redis for the event's position (two keys); when the map moved since the last read, the log's
 * entries in between are applied to the kept states and only the slices they touched are encoded
 * again (a snapshot is read instead when the log no longer reaches back, or the epoch changed). So
 * during a drop, where every read finds a new seq, a read costs the changes since the last one and
 * one copy of the body, not the whole map. Readers of one event share one update (single-flight).
 */
export class SeatMapCache {
  private readonly layouts: EventMemo<Layout>;
  private readonly live = new Map<string, LiveMap>();
  private readonly updating = new Map<string, Promise<EncodedSeatMap>>();

  constructor(private readonly ctx: OrdersContext) {
    this.layouts = new EventMemo(ctx.db, { load: (id) => this.loadLayout(id), recheckMs: LAYOUT_RECHECK_MS, max: MEMO_MAX });
  }

  async get(eventId: string): Promise<EncodedSeatMap> {
    eventId = eventId.toLowerCase();
    const layout = await this.layouts.get(eventId);
    if (!layout) {
      this.live.delete(eventId);
      throw new OrderError(404, "not_found", "no such event");
    }
    await this.ctx.seats.events.ensureEventLoaded(eventId);
    const [seq, epoch] = await Promise.all([this.ctx.seats.currentSeq(eventId), this.ctx.seats.events.epoch(eventId)]);
    const m = this.live.get(eventId);
    if (m?.encoded && m.layout === layout && m.seq === seq && m.epoch === (epoch ?? "")) return m.encoded;
    // One update per event at a time; a reader that arrives during it waits for it, then looks again
    // (its seq may be past the one the update reached).
    const running = this.updating.get(eventId);
    if (running) return running.then(() => this.get(eventId));
    const update = this.update(eventId, layout, seq, epoch ?? "").finally(() => this.updating.delete(eventId));
    this.updating.set(eventId, update);
    return update;
  }

  private async update(eventId: string, layout: Layout, seq: number, epoch: string): Promise<EncodedSeatMap> {
    let m = this.live.get(eventId);
    const log = m && m.layout === layout && m.epoch === epoch && m.seq < seq ? await this.ctx.seats.readLog(eventId, m.seq + 1, seq) : null;
    if (m && log) {
      for (const ev of log) this.setState(m, ev.seat, seatStateAfter(ev));
      m.seq = seq; // the log holds every entry up to seq (readLog answers null when it does not)
    } else {
      m = await this.fromSnapshot(eventId, layout);
      this.live.set(eventId, m);
      for (const id of this.live.keys()) if (this.live.size > MEMO_MAX && id !== eventId) this.live.delete(id);
    }
    return (m.encoded = encode(eventId, m));
  }

  private async fromSnapshot(eventId: string, layout: Layout): Promise<LiveMap> {
    const snap = await this.ctx.seats.snapshot({ eventId });
    const m: LiveMap = { layout, epoch: snap.epoch, seq: snap.seq, states: new Array<SeatState>(layout.ids.length).fill("available"), chunks: [], deflated: [], dirty: new Set(), encoded: null };
    for (let c = 0; c * CHUNK < layout.ids.length; c++) m.dirty.add(c);
    for (const [seat, t] of snap.taken) this.setState(m, seat, t.state);
    return m;
  }

  private setState(m: LiveMap, seat: string, state: SeatState): void {
    const i = m.layout.index.get(seat);
    if (i === undefined || m.states[i] === state) return;
    m.states[i] = state;
    m.dirty.add(Math.floor(i / CHUNK));
    m.deflated[Math.floor(i / CHUNK)] = undefined;
  }

  /** The event's seat ids and each seat's encoded layout, in natural order, or null for no such event. */
  private async loadLayout(eventId: string): Promise<Layout | null> {
    const rows = await this.ctx.db.select().from(seatsTable).where(eq(seatsTable.eventId, eventId)).orderBy(asc(seatsTable.seatId));
    if (rows.length === 0) {
      const [event] = await this.ctx.db.select({ id: events.id }).from(events).where(eq(events.id, eventId));
      if (!event) return null;
    }
    rows.sort((a, b) => naturalCompare(a.seatId, b.seatId));
    const fragments = rows.map((r) => {
      const seat = JSON.stringify({ id: r.seatId, section: r.section, row: r.row, number: r.number, price: r.priceCents / 100 });
      return `${seat.slice(0, -1)},"state":"`;
    });
    const ids = rows.map((r) => r.seatId);
    return { ids, index: new Map(ids.map((id, i) => [id, i])), fragments };
  }
}

/** Encodes the slices the last changes touched and joins every slice into the body. */
function encode(eventId: string, m: LiveMap): EncodedSeatMap {
  const { fragments } = m.layout;
  for (const c of m.dirty) {
    const end = Math.min(fragments.length, (c + 1) * CHUNK);
    const parts: string[] = [];
    for (let i = c * CHUNK; i < end; i++) parts.push(`${fragments[i]}${m.states[i]}"}`);
    m.chunks[c] = Buffer.from(`${c === 0 ? "" : ","}${parts.join(",")}`);
  }
  m.dirty.clear();
  const head = Buffer.from(`{"event_id":${JSON.stringify(eventId)},"seq":${m.seq},"seats":[`);
  const chunks = m.chunks.slice(); // this seq's slices: a later update replaces m.chunks' entries, not these
  const body = Buffer.concat([head, ...chunks, TAIL]);
  let zipped: Promise<Buffer> | undefined;
  return { epoch: m.epoch, seq: m.seq, body, gzip: () => (zipped ??= Promise.resolve(gzipOf(m, head, chunks, body))) };
}

const TAIL = Buffer.from("]}");
const deflateSlice = (b: Buffer) => deflateRawSync(b, { level: 1, finishFlush: constants.Z_SYNC_FLUSH });
/** gzip's header (RFC 1952: deflate, no name, no time, unknown OS) and deflate's empty final block. */
const GZIP_HEAD = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);

/**
 * The body as one gzip member made of deflated slices: each slice is deflated on its own and kept
 * until a seat in it changes, so during a drop a gzip read deflates the few slices that changed,
 * not 9 MB (which cost ≈ 25 ms of CPU per new seq). The slices end in sync flushes, so they
 * concatenate into one valid deflate stream; the trailer's CRC-32 is over the whole body.
 */
function gzipOf(m: LiveMap, head: Buffer, chunks: Buffer[], body: Buffer): Buffer {
  const parts: Buffer[] = [GZIP_HEAD, deflateSlice(head)];
  for (let c = 0; c < chunks.length; c++) {
    // Kept deflates are only those of these very slices (a newer seq may have replaced some).
    let d = m.chunks[c] === chunks[c] ? m.deflated[c] : undefined;
    if (!d) {
      d = deflateSlice(chunks[c]!);
      if (m.chunks[c] === chunks[c]) m.deflated[c] = d;
    }
    parts.push(d);
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(body), 0);
  trailer.writeUInt32LE(body.length % 2 ** 32, 4);
  parts.push(deflateSlice(TAIL), FINAL_BLOCK, trailer);
  return Buffer.concat(parts);
}
