import { eq, sql } from "drizzle-orm";
import { chatRooms, events, foreignKeyViolation, seats, type Db } from "@seatdrop/db";
import { ApiError, notFound, validationFailed, type FieldError } from "../errors.ts";
import type { EventChanges } from "../schemas/chat.ts";
import type { SavedEvent } from "./create-event.ts";
import { parseEventTime } from "./event-time.ts";

/** An event as the views need it: the row, its room and its seat count. */
export type LoadedEvent = Omit<SavedEvent, "chatRoom"> & { chatRoom: SavedEvent["chatRoom"] | null };

/** Loads an event with its chat room and seat count (not the seat map); null when unknown. */
export async function loadEvent(o: { db: Db; eventId: string }): Promise<LoadedEvent | null> {
  const [event] = await o.db.select().from(events).where(eq(events.id, o.eventId)).limit(1);
  if (!event) return null;
  const [[room], [count]] = await Promise.all([
    o.db.select({ id: chatRooms.id, status: chatRooms.status }).from(chatRooms).where(eq(chatRooms.eventId, o.eventId)).limit(1),
    o.db.select({ n: sql<number>`count(*)::int` }).from(seats).where(eq(seats.eventId, o.eventId)),
  ]);
  return { event, chatRoom: room ?? null, seatCount: count?.n ?? 0 };
}

/** What an update changed, so the caller can move what depends on the times. */
export interface UpdatedEvent {
  before: { startTime: Date; endTime: Date };
  after: LoadedEvent;
}

/**
 * Applies seed 003's partial update. The row is locked while the new times are checked against
 * the stored ones (an update of `end_time` alone must still end after the stored start), so two
 * concurrent updates cannot together produce an event that ends before it starts.
 */
export async function updateEvent(o: { db: Db; eventId: string; changes: EventChanges }): Promise<UpdatedEvent> {
  const errors: FieldError[] = [];
  const start = o.changes.start_time !== undefined ? parseEventTime(o.changes.start_time) : undefined;
  const end = o.changes.end_time !== undefined ? parseEventTime(o.changes.end_time) : undefined;
  if (start === null) errors.push({ field: "event.start_time", message: "is not a valid date-time" });
  if (end === null) errors.push({ field: "event.end_time", message: "is not a valid date-time" });
  if (errors.length > 0) throw validationFailed(errors);

  const before = await o.db.transaction(async (tx) => {
    const [row] = await tx.select().from(events).where(eq(events.id, o.eventId)).limit(1).for("update");
    if (!row) throw notFound("event");
    const startTime = start ?? row.startTime;
    const endTime = end ?? row.endTime;
    if (endTime.getTime() <= startTime.getTime())
      throw validationFailed([{ field: end ? "event.end_time" : "event.start_time", message: "the event must end after it starts" }]);
    const set: Partial<typeof events.$inferInsert> = { updatedAt: new Date(), startTime, endTime };
    if (o.changes.name !== undefined) set.name = o.changes.name;
    if (o.changes.description !== undefined) set.description = o.changes.description;
    if (o.changes.location !== undefined) set.location = o.changes.location;
    await tx.update(events).set(set).where(eq(events.id, o.eventId));
    return { startTime: row.startTime, endTime: row.endTime };
  });
  const after = await loadEvent({ db: o.db, eventId: o.eventId });
  if (!after) throw notFound("event"); // deleted right after the update
  return { before, after };
}

/**
 * Deletes an event with its seats, tickets, chat room, messages and notifications (foreign keys
 * cascade; archived messages are kept). An event with orders cannot go: they are financial records.
 * Returns the deleted times, so the caller can drop the room's jobs.
 */
export async function deleteEvent(o: { db: Db; eventId: string }): Promise<{ startTime: Date; endTime: Date }> {
  try {
    const [row] = await o.db.delete(events).where(eq(events.id, o.eventId)).returning({ startTime: events.startTime, endTime: events.endTime });
    if (!row) throw notFound("event");
    return row;
  } catch (err) {
    if (foreignKeyViolation(err) !== null) throw new ApiError(409, "event_has_orders", "this event has orders and cannot be deleted");
    throw err;
  }
}
