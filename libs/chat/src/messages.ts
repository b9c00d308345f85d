import { and, desc, eq, sql } from "drizzle-orm";
import { chatRooms, messageArchive, messages, tickets, type Db } from "@seatdrop/db";
import type { ChatMessageView } from "@seatdrop/protocol";
import { ChatError } from "./errors.ts";

type MessageRow = Pick<typeof messages.$inferSelect, "id" | "userId" | "content" | "contentType" | "insertedAt">;

/** A stored message as clients see it. */
export function toMessageView(m: MessageRow): ChatMessageView {
  return { id: m.id, user_id: m.userId, content: m.content, content_type: m.contentType, inserted_at: m.insertedAt.toISOString() };
}

const messageColumns = { id: messages.id, userId: messages.userId, content: messages.content, contentType: messages.contentType, insertedAt: messages.insertedAt };

/**
 * Stores a message if, and only if, its room is active. The room row is read `FOR SHARE` in the
 * same transaction: archiving a room updates that row, so it waits for messages being written and
 * every message written after it sees the room inactive. No message can slip in between the
 * archive's move and the room going inactive, and none is lost.
 */
export async function storeMessage(o: { db: Db; roomId: string; userId: string; content: string; contentType: string }): Promise<ChatMessageView> {
  return o.db.transaction(async (tx) => {
    const [room] = await tx.select({ status: chatRooms.status, eventId: chatRooms.eventId }).from(chatRooms).where(eq(chatRooms.id, o.roomId)).limit(1).for("share");
    if (!room) throw new ChatError("unknown_event", "this event and its chat room were deleted");
    if (room.status !== "active") throw new ChatError("chat_inactive", "the chat room is not active: it opens before the event starts and closes when it ends");
    // A member whose ticket was refunded or voided since joining may no longer write.
    const [ticket] = await tx
      .select({ id: tickets.id })
      .from(tickets)
      .where(and(eq(tickets.eventId, room.eventId), eq(tickets.userId, o.userId), eq(tickets.status, "valid")))
      .limit(1);
    if (!ticket) throw new ChatError("ticket_void", "you no longer hold a valid ticket for this event");
    const [row] = await tx
      .insert(messages)
      .values({ chatRoomId: o.roomId, userId: o.userId, content: o.content, contentType: o.contentType })
      .returning(messageColumns);
    if (!row) throw new Error("insert into messages returned no row");
    return toMessageView(row);
  });
}

/**
 * A page of a room's messages, newest last: the `limit` messages before the message `before`
 * (or the latest), and whether older ones exist.
 */
export async function messageHistory(o: { db: Db; roomId: string; before?: string; limit: number }): Promise<{ messages: ChatMessageView[]; more: boolean }> {
  const conditions = [eq(messages.chatRoomId, o.roomId)];
  if (o.before !== undefined) {
    const [cursor] = await o.db.select({ id: messages.id }).from(messages).where(and(eq(messages.id, o.before), eq(messages.chatRoomId, o.roomId))).limit(1);
    if (!cursor) throw new ChatError("malformed_payload", "before must be the id of a message of this room", { field: "before" });
    conditions.push(sql`(${messages.insertedAt}, ${messages.id}) < (select m.inserted_at, m.id from ${messages} m where m.id = ${o.before})`);
  }
  const rows = await o.db
    .select(messageColumns)
    .from(messages)
    .where(and(...conditions))
    .orderBy(desc(messages.insertedAt), desc(messages.id))
    .limit(o.limit + 1);
  const more = rows.length > o.limit;
  return { messages: rows.slice(0, o.limit).reverse().map(toMessageView), more };
}

/** An archived message, for admins. */
export interface ArchivedMessageView extends ChatMessageView {
  archived_at: string;
}

/** A page of a room's archived messages (oldest first), for admins; `after` is the last id of the previous page. */
export async function archivedMessages(o: { db: Db; roomId: string; after?: string; limit: number }): Promise<{ messages: ArchivedMessageView[]; more: boolean }> {
  const conditions = [eq(messageArchive.chatRoomId, o.roomId)];
  if (o.after !== undefined)
    conditions.push(sql`(${messageArchive.insertedAt}, ${messageArchive.id}) > (select a.inserted_at, a.id from ${messageArchive} a where a.id = ${o.after})`);
  const rows = await o.db
    .select()
    .from(messageArchive)
    .where(and(...conditions))
    .orderBy(messageArchive.insertedAt, messageArchive.id)
    .limit(o.limit + 1);
  return {
    messages: rows.slice(0, o.limit).map((m) => ({ ...toMessageView(m), archived_at: m.archivedAt.toISOString() })),
    more: rows.length > o.limit,
  };
}
