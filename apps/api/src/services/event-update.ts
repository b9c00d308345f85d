import { eq, sql } from "drizzle-orm";
import { chatRooms, events, foreignKeyViolation, seats, type Db, type WaitingRoomRecord } from "@seatdrop/db";
import { newRoomSecrets } from "@seatdrop/queue";
import { ApiError, notFound, validationFailed, type FieldError } from "../errors.ts";
import type { EventPatch } from "../schemas/chat.ts";
import type { WaitingRoomPatch } from "../schemas/event.ts";
import { ROOM_DEFAULTS, type SavedEvent } from "./create-event.ts";
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
 * Applies a partial update (the chat service's fields and the waiting room). The row is locked while the new
 * values are checked against the stored ones (an update of `end_time` alone must still end after the
 * stored start; a room must open before the stored `sales_open_at`), so two concurrent updates cannot
 * together produce an event that ends before it starts. Fields are named as in the REST body
 * (`end_time`, `waiting_room.opens_at`); the chat service's route puts them under `event.` itself.
 */
export async function updateEvent(o: { db: Db; eventId: string; changes: EventPatch }): Promise<UpdatedEvent> {
  const errors: FieldError[] = [];
  const start = o.changes.start_time !== undefined ? parseEventTime(o.changes.start_time) : undefined;
  const end = o.changes.end_time !== undefined ? parseEventTime(o.changes.end_time) : undefined;
  if (start === null) errors.push({ field: "start_time", message: "is not a valid date-time" });
  if (end === null) errors.push({ field: "end_time", message: "is not a valid date-time" });
  const room = o.changes.waiting_room;
  const opensAt = room?.opens_at !== undefined ? new Date(room.opens_at) : undefined;
  if (opensAt && Number.isNaN(opensAt.getTime())) errors.push({ field: "waiting_room.opens_at", message: "is not a valid date-time" });
  if (errors.length > 0) throw validationFailed(errors);

  const before = await o.db.transaction(async (tx) => {
    const [row] = await tx.select().from(events).where(eq(events.id, o.eventId)).limit(1).for("update");
    if (!row) throw notFound("event");
    const startTime = start ?? row.startTime;
    const endTime = end ?? row.endTime;
    if (endTime.getTime() <= startTime.getTime())
      throw validationFailed([{ field: end ? "end_time" : "start_time", message: "the event must end after it starts" }]);
    const set: Partial<typeof events.$inferInsert> = { updatedAt: new Date(), startTime, endTime };
    if (o.changes.name !== undefined) set.name = o.changes.name;
    if (o.changes.description !== undefined) set.description = o.changes.description;
    if (o.changes.location !== undefined) set.location = o.changes.location;
    if (room !== undefined) set.waitingRoom = nextRoom({ stored: row.waitingRoom, salesOpenAt: row.salesOpenAt, patch: room, opensAt, now: Date.now() });
    await tx.update(events).set(set).where(eq(events.id, o.eventId));
    return { startTime: row.startTime, endTime: row.endTime };
  });
  const after = await loadEvent({ db: o.db, eventId: o.eventId });
  if (!after) throw notFound("event"); // deleted right after the update
  return { before, after };
}

/**
 * The room an update leaves: null (removed, only before it opened), or the stored one with the
 * fields given replaced, or a new one (its secrets made now). A room keeps its seed, commitment and
 * challenge for good: the commitment was published, and the draw must be made with its seed.
 */
function nextRoom(o: {
  stored: WaitingRoomRecord | null;
  salesOpenAt: Date | null;
  patch: WaitingRoomPatch | null;
  opensAt: Date | undefined;
  now: number;
}): WaitingRoomRecord | null {
  const { stored, salesOpenAt, patch } = o;
  const openedAt = stored && o.now >= Date.parse(stored.opens_at) ? stored.opens_at : null;
  if (patch === null) {
    if (openedAt) throw validationFailed([{ field: "waiting_room", message: `cannot be removed: the room opened at ${openedAt}` }]);
    return null;
  }
  if (!salesOpenAt)
    throw validationFailed([{ field: "sales_open_at", message: "the event has none, and a waiting_room needs one (the room's draw is made then)" }]);
  const opensAt = o.opensAt ?? (stored ? new Date(stored.opens_at) : null);
  if (!opensAt) throw validationFailed([{ field: "waiting_room.opens_at", message: "is required to add a waiting room to the event" }]);
  if (openedAt && opensAt.getTime() !== Date.parse(openedAt))
    throw validationFailed([{ field: "waiting_room.opens_at", message: `cannot move: the room opened at ${openedAt}` }]);
  if (opensAt.getTime() >= salesOpenAt.getTime())
    throw validationFailed([{ field: "waiting_room.opens_at", message: `must be before sales_open_at (${salesOpenAt.toISOString()})` }]);
  const base: WaitingRoomRecord = stored ?? { ...newRoomSecrets(), opens_at: opensAt.toISOString(), ...ROOM_DEFAULTS };
  return {
    ...base,
    opens_at: opensAt.toISOString(),
    turn_ms: patch.turn_ms ?? base.turn_ms,
    max_active: patch.max_active !== undefined ? patch.max_active : base.max_active,
    pow_bits: patch.pow_bits ?? base.pow_bits,
  };
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
