import { and, eq, isNotNull, sql } from "drizzle-orm";
import { chatRooms, events, notifications, tickets, type Db } from "@seatdrop/db";
import type { Logger } from "@seatdrop/observability";
import type { RoomStatus } from "@seatdrop/protocol";
import type { ChatBus } from "./chat-bus.ts";
import { toNotificationView } from "./notifications.ts";

/** Notification rows per INSERT (3 parameters each, PostgreSQL allows 65,534 per statement). */
const NOTIFICATION_CHUNK = 10_000;

/** When a room opens and closes (as in the chat service: active from 2 hours before the start until the end). */
export interface RoomSchedule {
  activateAt: Date;
  closeAt: Date;
}

export function roomSchedule(event: { startTime: Date; endTime: Date }, activateBeforeMs: number): RoomSchedule {
  return { activateAt: new Date(event.startTime.getTime() - activateBeforeMs), closeAt: event.endTime };
}

/** What {@link syncRoom} did. */
export type RoomTransition = "activated" | "deactivated" | "closed" | "unchanged" | "unknown_event";

export interface RoomLifecycleDeps {
  db: Db;
  bus: ChatBus;
  logger: Logger;
  activateBeforeMs: number;
}

/**
 * Puts an event's room in the state its schedule says it should be in now, and tells everyone
 * concerned. The one place that decides a room's status, so the jobs, the periodic reconcile and an
 * event update can never disagree; safe to run any number of times (jobs run twice, late, or after
 * the event moved):
 *
 * - before `start − CHAT_ACTIVATE_BEFORE_MS`: `inactive` (an active room whose event moved later closes again);
 * - until the end: `active`, and each ticket holder gets a stored notification, pushed live;
 * - from the end: `inactive`, and the room's messages move to `message_archive` (once per end time).
 */
export async function syncRoom(deps: RoomLifecycleDeps, eventId: string, now = new Date()): Promise<RoomTransition> {
  const log = deps.logger.child({ module: "room-lifecycle" });
  const result = await deps.db.transaction(async (tx) => {
    const [event] = await tx.select({ name: events.name, startTime: events.startTime, endTime: events.endTime }).from(events).where(eq(events.id, eventId)).limit(1);
    if (!event) return { transition: "unknown_event" as const };
    // The room row is the lock: two workers (or a job and an event update) serialise here.
    let [room] = await tx.select().from(chatRooms).where(eq(chatRooms.eventId, eventId)).limit(1).for("update");
    if (!room) {
      [room] = await tx.insert(chatRooms).values({ eventId }).returning();
      if (!room) throw new Error("insert into chat_rooms returned no row");
    }
    const { activateAt, closeAt } = roomSchedule(event, deps.activateBeforeMs);
    if (now >= closeAt) {
      const archivedForThisEnd = room.archivedAt !== null && room.archivedAt >= closeAt;
      if (room.status === "inactive" && archivedForThisEnd) return { transition: "unchanged" as const };
      await tx.update(chatRooms).set({ status: "inactive", archivedAt: now }).where(eq(chatRooms.id, room.id));
      // One statement moves them: whatever it deletes it inserts, so nothing is half-archived.
      const moved = await tx.execute(sql`
        with moved as (delete from messages where chat_room_id = ${room.id} returning id, chat_room_id, user_id, content, content_type, inserted_at)
        insert into message_archive (id, chat_room_id, user_id, content, content_type, inserted_at)
        select id, chat_room_id, user_id, content, content_type, inserted_at from moved`);
      return { transition: "closed" as const, wasActive: room.status === "active", archived: moved.count ?? 0 };
    }
    if (now >= activateAt) {
      if (room.status === "active") return { transition: "unchanged" as const };
      await tx.update(chatRooms).set({ status: "active", activatedAt: now }).where(eq(chatRooms.id, room.id));
      const holders = await tx
        .selectDistinct({ userId: tickets.userId })
        .from(tickets)
        .where(and(eq(tickets.eventId, eventId), eq(tickets.status, "valid"), isNotNull(tickets.userId)));
      const message = `The chat room of "${event.name}" is open: the event starts at ${event.startTime.toISOString()}.`;
      // In chunks: one INSERT takes at most 65,534 parameters (3 a row), and a big event has more holders.
      const stored: (typeof notifications.$inferSelect)[] = [];
      for (let i = 0; i < holders.length; i += NOTIFICATION_CHUNK) {
        const chunk = holders.slice(i, i + NOTIFICATION_CHUNK);
        stored.push(...(await tx.insert(notifications).values(chunk.map((h) => ({ userId: h.userId!, eventId, message }))).returning()));
      }
      return { transition: "activated" as const, notifications: stored.map((row) => ({ n: toNotificationView(row), userId: row.userId })) };
    }
    if (room.status === "active") {
      await tx.update(chatRooms).set({ status: "inactive" }).where(eq(chatRooms.id, room.id));
      return { transition: "deactivated" as const };
    }
    return { transition: "unchanged" as const };
  });

  // Committed: now tell the room and the ticket holders. A failed publish loses only the live push;
  // notifications are stored and listed by the API. A node that misses this announcement corrects
  // its view of the room's status within 30 s: room feeds re-read it from PostgreSQL (room-feeds.ts).
  const announce = async (status: RoomStatus, reason?: string) => {
    await deps.bus.emit(eventId, reason ? { k: "status", status, reason } : { k: "status", status }).catch((err: unknown) => log.warn({ err, eventId }, "room status publish failed"));
  };
  switch (result.transition) {
    case "activated":
      await announce("active");
      await Promise.all(
        result.notifications.map(({ n, userId }) =>
          deps.bus.publishNotification(userId, n).catch((err: unknown) => log.warn({ err, userId }, "notification push failed")),
        ),
      );
      log.info({ eventId, notified: result.notifications.length }, "chat room activated");
      break;
    case "closed":
      if (result.wasActive) await announce("inactive", "event_ended");
      log.info({ eventId, archived: result.archived }, "chat room closed and archived");
      break;
    case "deactivated":
      await announce("inactive", "rescheduled");
      log.info({ eventId }, "chat room deactivated: the event moved later");
      break;
    default:
      break;
  }
  return result.transition;
}
