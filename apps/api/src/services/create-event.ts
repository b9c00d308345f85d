import { sql } from "drizzle-orm";
import { chatRooms, events, type Db, type WaitingRoomRecord } from "@seatdrop/db";
import { newRoomSecrets } from "@seatdrop/queue";
import { validationFailed, type FieldError } from "../errors.ts";
import type { CreateEventBody } from "../schemas/event.ts";
import { parseEventTime } from "./event-time.ts";

/** A seat ready for the `seats` table. */
export interface SeatRow {
  seatId: string;
  section: string | null;
  row: string | null;
  number: number | null;
  priceCents: number;
}

/** A create-event request after the checks JSON Schema cannot express. */
export interface NewEvent {
  name: string;
  description: string;
  location: string;
  startTime: Date;
  endTime: Date;
  holdTtlMs: number | null;
  holdMaxSeats: number | null;
  holdGraceMs: number | null;
  holdMaxExtensions: number | null;
  salesOpenAt: Date | null;
  salesCloseAt: Date | null;
  maxSeatsPerUser: number | null;
  paymentWindowMs: number | null;
  /** The waiting room with its secrets (made here, once), or null for none. */
  waitingRoom: WaitingRoomRecord | null;
  seats: SeatRow[];
}

/** A new room's settings when the request leaves them out. */
export const ROOM_DEFAULTS = { turn_ms: 600_000, max_active: null, pow_bits: 0 } as const;

/** Seats per INSERT: bounds the size of one statement's arrays while keeping round trips few. */
const SEAT_INSERT_CHUNK = 20_000;
/** A 422 lists this many fields at most; a 100000-seat map with one systematic mistake needs only the first few. */
const MAX_FIELD_ERRORS = 50;

/**
 * Checks what the schema cannot: real calendar times in order, seat ids unique within the event,
 * prices in whole cents, a waiting room only with `sales_open_at` and opening before it. Throws a
 * 422 naming each bad field (`end_time`, `seats[3].id`, `waiting_room.opens_at`).
 */
export function checkNewEvent(body: CreateEventBody): NewEvent {
  const errors: FieldError[] = [];
  const startTime = parseEventTime(body.start_time);
  const endTime = parseEventTime(body.end_time);
  if (!startTime) errors.push({ field: "start_time", message: "is not a valid date-time" });
  if (!endTime) errors.push({ field: "end_time", message: "is not a valid date-time" });
  if (startTime && endTime && endTime.getTime() <= startTime.getTime())
    errors.push({ field: "end_time", message: "must be after start_time" });
  const salesOpenAt = body.sales_open_at ? new Date(body.sales_open_at) : null;
  const salesCloseAt = body.sales_close_at ? new Date(body.sales_close_at) : null;
  if (salesOpenAt && Number.isNaN(salesOpenAt.getTime())) errors.push({ field: "sales_open_at", message: "is not a valid date-time" });
  if (salesCloseAt && Number.isNaN(salesCloseAt.getTime())) errors.push({ field: "sales_close_at", message: "is not a valid date-time" });
  if (salesOpenAt && salesCloseAt && salesCloseAt.getTime() <= salesOpenAt.getTime())
    errors.push({ field: "sales_close_at", message: "must be after sales_open_at" });
  const room = body.waiting_room ?? null;
  const opensAt = room ? new Date(room.opens_at) : null;
  if (room && !body.sales_open_at)
    errors.push({ field: "sales_open_at", message: "is required when the event has a waiting_room (the room's draw is made then)" });
  if (opensAt && Number.isNaN(opensAt.getTime())) errors.push({ field: "waiting_room.opens_at", message: "is not a valid date-time" });
  else if (opensAt && salesOpenAt && !Number.isNaN(salesOpenAt.getTime()) && opensAt.getTime() >= salesOpenAt.getTime())
    errors.push({ field: "waiting_room.opens_at", message: `must be before sales_open_at (${salesOpenAt.toISOString()})` });

  const firstIndex = new Map<string, number>();
  const seatRows: SeatRow[] = new Array(body.seats.length);
  body.seats.forEach((seat, i) => {
    const seen = firstIndex.get(seat.id);
    if (seen !== undefined) errors.push({ field: `seats[${i}].id`, message: `duplicate seat id ${seat.id} (first at seats[${seen}])` });
    else firstIndex.set(seat.id, i);
    const priceCents = Math.round(seat.price * 100);
    // Binary floats make 45.55 * 100 = 4554.999…; anything further from a whole cent had a third decimal.
    if (Math.abs(priceCents - seat.price * 100) > 1e-6) errors.push({ field: `seats[${i}].price`, message: "must have at most 2 decimal places" });
    seatRows[i] = { seatId: seat.id, section: seat.section ?? null, row: seat.row ?? null, number: seat.number ?? null, priceCents };
  });
  if (errors.length > 0 || !startTime || !endTime) throw validationFailed(errors.slice(0, MAX_FIELD_ERRORS));

  return {
    name: body.name,
    description: body.description,
    location: body.location,
    startTime,
    endTime,
    holdTtlMs: body.hold_ttl_ms ?? null,
    holdMaxSeats: body.hold_max_seats ?? null,
    holdGraceMs: body.hold_grace_ms ?? null,
    holdMaxExtensions: body.hold_max_extensions ?? null,
    salesOpenAt,
    salesCloseAt,
    maxSeatsPerUser: body.max_seats_per_user ?? null,
    paymentWindowMs: body.payment_window_ms ?? null,
    // The secrets are made once, here: the commitment is public from now on and never changes.
    waitingRoom:
      room && opensAt
        ? {
            ...newRoomSecrets(),
            opens_at: opensAt.toISOString(),
            turn_ms: room.turn_ms ?? ROOM_DEFAULTS.turn_ms,
            max_active: room.max_active ?? ROOM_DEFAULTS.max_active,
            pow_bits: room.pow_bits ?? ROOM_DEFAULTS.pow_bits,
          }
        : null,
    seats: seatRows,
  };
}

/** The stored event, its chat room and how many seats it has. */
export interface SavedEvent {
  event: typeof events.$inferSelect;
  chatRoom: { id: string; status: "inactive" | "active" };
  seatCount: number;
}

/**
 * Stores the event, its seat map and its chat room (status `inactive`, as in the chat service) in ONE transaction:
 * an event without its seats, or without the room its ticket holders will join, never exists.
 */
export async function createEvent(o: { db: Db; event: NewEvent }): Promise<SavedEvent> {
  const { seats: seatRows, ...fields } = o.event;
  return o.db.transaction(async (tx) => {
    const [event] = await tx.insert(events).values(fields).returning();
    if (!event) throw new Error("insert into events returned no row");
    for (let i = 0; i < seatRows.length; i += SEAT_INSERT_CHUNK) {
      await insertSeats(tx, event.id, seatRows.slice(i, i + SEAT_INSERT_CHUNK));
    }
    const [chatRoom] = await tx
      .insert(chatRooms)
      .values({ eventId: event.id, status: "inactive" })
      .returning({ id: chatRooms.id, status: chatRooms.status });
    if (!chatRoom) throw new Error("insert into chat_rooms returned no row");
    return { event, chatRoom, seatCount: seatRows.length };
  });
}

/**
 * Inserts seats as five arrays expanded by `unnest`. drizzle's multi-row VALUES spent ~370 ms of CPU
 * building each 5000-row statement (30000 bound parameters), so a 100000-seat map took ~8 s; five
 * array parameters take ~1.3 s for the same map, almost all of it PostgreSQL's own work.
 */
async function insertSeats(tx: Pick<Db, "execute">, eventId: string, rows: SeatRow[]): Promise<void> {
  await tx.execute(sql`
    insert into seats (event_id, seat_id, section, "row", number, price_cents)
    select ${eventId}::uuid, * from unnest(
      ${sql.param(rows.map((r) => r.seatId))}::text[],
      ${sql.param(rows.map((r) => r.section))}::text[],
      ${sql.param(rows.map((r) => r.row))}::text[],
      ${sql.param(rows.map((r) => r.number))}::int[],
      ${sql.param(rows.map((r) => r.priceCents))}::int[])`);
}
