import { and, desc, eq } from "drizzle-orm";
import { notifications, type Db } from "@seatdrop/db";
import type { NotificationView } from "@seatdrop/protocol";

type NotificationRow = typeof notifications.$inferSelect;

export function toNotificationView(n: NotificationRow): NotificationView {
  return { id: n.id, event_id: n.eventId, message: n.message, status: n.status, inserted_at: n.insertedAt.toISOString() };
}

/** A user's notifications, newest first; `status` filters to unread or read ones. */
export async function listNotifications(o: { db: Db; userId: string; status?: "unread" | "read"; limit: number; offset?: number }): Promise<NotificationView[]> {
  const where = o.status ? and(eq(notifications.userId, o.userId), eq(notifications.status, o.status)) : eq(notifications.userId, o.userId);
  const rows = await o.db
    .select()
    .from(notifications)
    .where(where)
    .orderBy(desc(notifications.insertedAt), desc(notifications.id))
    .limit(o.limit)
    .offset(o.offset ?? 0);
  return rows.map(toNotificationView);
}

/**
 * Marks one of the user's notifications read (idempotent). Null when the user has no such
 * notification: someone else's is reported exactly like a missing one.
 */
export async function markNotificationRead(o: { db: Db; userId: string; notificationId: string }): Promise<NotificationView | null> {
  const [row] = await o.db
    .update(notifications)
    .set({ status: "read" })
    .where(and(eq(notifications.id, o.notificationId), eq(notifications.userId, o.userId)))
    .returning();
  return row ? toNotificationView(row) : null;
}
