import { randomUUID } from "node:crypto";
import { and, desc, eq, inArray, sql } from "drizzle-orm";
import { chatRooms, messageArchive, messages, tickets, type Db } from "@seatdrop/db";
import type { ChatMessageView } from "@seatdrop/protocol";
import { ChatError } from "./errors.ts";

type MessageRow = Pick<typeof messages.$inferSelect, "id" | "userId" | "content" | "contentType" | "insertedAt">;

/** A stored message as clients see it. */
export function toMessageView(m: MessageRow): ChatMessageView {
  return { id: m.id, user_id: m.userId, content: m.content, content_type: m.contentType, inserted_at: m.insertedAt.toISOString() };
}

const messageColumns = { id: messages.id, userId: messages.userId, content: messages.content, contentType: messages.contentType, insertedAt: messages.insertedAt };

/** One message to store: its author and checked content. */
export interface MessageToStore {
  userId: string;
  content: string;
  contentType: string;
}

/**
 * Stores a message if, and only if, its room is active (one message; see {@link storeMessages}).
 */
export async function storeMessage(o: { db: Db; roomId: string; userId: string; content: string; contentType: string }): Promise<ChatMessageView> {
  const [r] = await storeMessages({ db: o.db, roomId: o.roomId, messages: [{ userId: o.userId, content: o.content, contentType: o.contentType }] });
  if (r instanceof ChatError) throw r;
  return r!;
}

/**
 * Group commit: stores several messages of one room in ONE transaction and one multi-row INSERT,
 * in the order given; each result is the stored message or the refusal of that message alone
 * (`ticket_void`). A refusal of the whole group (`unknown_event`, `chat_inactive`) or a database
 * error throws, and then nothing was stored.
 *
 * The room row is read `FOR SHARE` in the same transaction: archiving a room updates that row, so
 * it waits for messages being written and every message written after it sees the room inactive.
 * No message can slip in between the archive's move and the room going inactive, and none is lost.
 * Ids are made here (so each result maps back to its message without trusting RETURNING's order);
 * `inserted_at` is the transaction's time plus the message's place in microseconds, so history
 * (ordered by `inserted_at`, `id`) keeps the group's order.
 */
export async function storeMessages(o: { db: Db; roomId: string; messages: MessageToStore[] }): Promise<(ChatMessageView | ChatError)[]> {
  if (o.messages.length === 0) return [];
  return o.db.transaction(async (tx) => {
    const [room] = await tx.select({ status: chatRooms.status, eventId: chatRooms.eventId }).from(chatRooms).where(eq(chatRooms.id, o.roomId)).limit(1).for("share");
    if (!room) throw new ChatError("unknown_event", "this event and its chat room were deleted");
    if (room.status !== "active") throw new ChatError("chat_inactive", "the chat room is not active: it opens before the event starts and closes when it ends");
    // A member whose ticket was refunded or voided since joining may no longer write.
    const authors = [...new Set(o.messages.map((m) => m.userId))];
    const holders = await tx
      .selectDistinct({ userId: tickets.userId })
      .from(tickets)
      .where(and(eq(tickets.eventId, room.eventId), inArray(tickets.userId, authors), eq(tickets.status, "valid")));
    const valid = new Set(holders.map((h) => h.userId));
    const out: (ChatMessageView | ChatError)[] = [];
    const rows: (typeof messages.$inferInsert)[] = [];
    for (const m of o.messages) {
      if (!valid.has(m.userId)) {
        out.push(new ChatError("ticket_void", "you no longer hold a valid ticket for this event"));
        continue;
      }
      const id = randomUUID();
      rows.push({ id, chatRoomId: o.roomId, userId: m.userId, content: m.content, contentType: m.contentType, insertedAt: sql`now() + ${`${rows.length} microseconds`}::interval` as unknown as Date });
      out.push({ id, user_id: m.userId, content: m.content, content_type: m.contentType, inserted_at: "" });
    }
    if (rows.length === 0) return out;
    const stored = await tx.insert(messages).values(rows).returning(messageColumns);
    const byId = new Map(stored.map((r) => [r.id, toMessageView(r)]));
    return out.map((v) => {
      if (v instanceof ChatError) return v;
      const s = byId.get(v.id);
      if (!s) throw new Error(`insert into messages returned no row for ${v.id}`);
      return s;
    });
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
