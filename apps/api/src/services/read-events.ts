import { asc, eq, sql } from "drizzle-orm";
import { chatRooms, events, seats, type Db, type WaitingRoomRecord } from "@seatdrop/db";
import { naturalCompare } from "@seatdrop/seats";
import type { SavedEvent, SeatRow } from "./create-event.ts";

/** An event with its whole seat map, in natural seat order (A_2 before A_10). */
export interface EventWithSeats extends Omit<SavedEvent, "chatRoom"> {
  /** Null only for events stored before chat rooms existed. */
  chatRoom: SavedEvent["chatRoom"] | null;
  seats: SeatRow[];
}

/** Loads one event with its seats and chat room; null when there is no such event. */
export async function findEventWithSeats(o: { db: Db; eventId: string }): Promise<EventWithSeats | null> {
  const [event] = await o.db.select().from(events).where(eq(events.id, o.eventId)).limit(1);
  if (!event) return null;
  const [seatRows, [chatRoom]] = await Promise.all([
    o.db
      .select({ seatId: seats.seatId, section: seats.section, row: seats.row, number: seats.number, priceCents: seats.priceCents })
      .from(seats)
      .where(eq(seats.eventId, event.id)),
    o.db.select({ id: chatRooms.id, status: chatRooms.status }).from(chatRooms).where(eq(chatRooms.eventId, event.id)).limit(1),
  ]);
  seatRows.sort((a, b) => naturalCompare(a.seatId, b.seatId));
  return { event, chatRoom: chatRoom ?? null, seats: seatRows, seatCount: seatRows.length };
}

/** Loads one event with its seat count and chat room (not its seats); null when there is no such event. */
export async function findEvent(o: { db: Db; eventId: string }): Promise<Omit<EventWithSeats, "seats"> | null> {
  // The count walks the (event_id, seat_id) primary key only (an index-only scan).
  const seatCount = sql<number>`(select count(*) from ${seats} where ${seats.eventId} = ${events.id})::int`;
  const [row] = await o.db.select({ event: events, seatCount }).from(events).where(eq(events.id, o.eventId)).limit(1);
  if (!row) return null;
  const [chatRoom] = await o.db.select({ id: chatRooms.id, status: chatRooms.status }).from(chatRooms).where(eq(chatRooms.eventId, row.event.id)).limit(1);
  return { event: row.event, chatRoom: chatRoom ?? null, seatCount: row.seatCount };
}

/** One line of the event list. */
export interface EventSummary {
  id: string;
  name: string;
  location: string;
  startTime: Date;
  endTime: Date;
  seatCount: number;
  waitingRoom: WaitingRoomRecord | null;
}

/** Lists events by start time, with their seat counts. */
export async function listEvents(o: { db: Db; limit: number; offset: number }): Promise<EventSummary[]> {
  // A correlated count per listed event walks the (event_id, seat_id) primary key for those rows
  // only, where a grouped join would count the seats of every event ever stored.
  return o.db
    .select({
      id: events.id,
      name: events.name,
      location: events.location,
      startTime: events.startTime,
      endTime: events.endTime,
      seatCount: sql<number>`(select count(*) from ${seats} where ${seats.eventId} = ${events.id})::int`,
      waitingRoom: events.waitingRoom,
    })
    .from(events)
    .orderBy(asc(events.startTime), asc(events.id))
    .limit(o.limit)
    .offset(o.offset);
}
