import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { chatRooms, events, tickets, type Db } from "@seatdrop/db";
import type { RoomStatus } from "@seatdrop/protocol";
import { ChatError } from "./errors.ts";

/** A chat room as the channel needs it. */
export interface RoomRef {
  id: string;
  eventId: string;
  status: RoomStatus;
}

/** The ticket that let a user in. */
export interface AdmittedTicket {
  id: string;
  ticketNumber: string;
  /** True when this join claimed it (associated it with the user and marked it used). */
  claimedNow: boolean;
}

/**
 * The room of an event, or null when the event does not exist. An event stored without a room
 * (before rooms existed, or inserted by hand) gets its room here, `inactive` as every new room is.
 */
export async function findOrCreateRoom(o: { db: Db; eventId: string }): Promise<RoomRef | null> {
  const [room] = await o.db.select({ id: chatRooms.id, status: chatRooms.status }).from(chatRooms).where(eq(chatRooms.eventId, o.eventId)).limit(1);
  if (room) return { ...room, eventId: o.eventId };
  await o.db.execute(sql`insert into ${chatRooms} (event_id) select ${events.id} from ${events} where ${events.id} = ${o.eventId} on conflict (event_id) do nothing`);
  const [made] = await o.db.select({ id: chatRooms.id, status: chatRooms.status }).from(chatRooms).where(eq(chatRooms.eventId, o.eventId)).limit(1);
  return made ? { ...made, eventId: o.eventId } : null;
}

/**
 * Seed 003's way into a room: the caller's own valid ticket for the event, or a ticket number they
 * enter, which is validated, associated with them and marked used, all in ONE transaction with the
 * ticket row locked, so two users racing for one number never both get it.
 *
 * Refusals: `unknown_event`, `unauthorized` (no ticket at all), and for a `ticket_number` ONE
 * uniform `invalid_ticket`, whether the number does not exist, is another event's, was voided or
 * belongs to someone else: distinct reasons told a guesser which numbers exist (issue 8, finding 1).
 */
export async function admitToRoom(o: { db: Db; eventId: string; userId: string; ticketNumber?: string }): Promise<{ room: RoomRef; ticket: AdmittedTicket }> {
  const room = await findOrCreateRoom({ db: o.db, eventId: o.eventId });
  if (!room) throw new ChatError("unknown_event", `no event ${o.eventId}`);
  const ticket = await o.db.transaction(async (tx) => {
    if (o.ticketNumber !== undefined) {
      // Control characters (U+0000 made PostgreSQL answer an error, which became `internal_error`:
      // issue 8, finding 7) are in no ticket number, so such a number is simply not a ticket.
      if (/[\u0000-\u001f\u007f]/.test(o.ticketNumber)) throw ticketRefused();
      const [t] = await tx.select().from(tickets).where(eq(tickets.ticketNumber, o.ticketNumber)).limit(1).for("update");
      if (!t || t.eventId !== o.eventId || t.status !== "valid" || (t.userId !== null && t.userId !== o.userId)) throw ticketRefused();
      const claimedNow = t.userId === null || t.usedAt === null;
      if (claimedNow) await tx.update(tickets).set({ userId: o.userId, usedAt: t.usedAt ?? new Date() }).where(eq(tickets.id, t.id));
      return { id: t.id, ticketNumber: t.ticketNumber, claimedNow };
    }
    // Prefer a ticket already used for this room, so a second ticket of the same user stays unused.
    const [t] = await tx
      .select()
      .from(tickets)
      .where(and(eq(tickets.eventId, o.eventId), eq(tickets.userId, o.userId), eq(tickets.status, "valid")))
      .orderBy(sql`${tickets.usedAt} asc nulls last`, asc(tickets.insertedAt))
      .limit(1)
      .for("update");
    if (!t) throw new ChatError("unauthorized", "you need a ticket for this event: join with {\"ticket_number\": …} or get one assigned");
    if (t.usedAt === null) await tx.update(tickets).set({ usedAt: new Date() }).where(eq(tickets.id, t.id));
    return { id: t.id, ticketNumber: t.ticketNumber, claimedNow: t.usedAt === null };
  });
  return { room, ticket };
}

/** The one refusal of a ticket number, whatever the reason (see admitToRoom). */
function ticketRefused(): ChatError {
  return new ChatError("invalid_ticket", "this ticket number does not let you into this room", { field: "ticket_number" });
}

/**
 * Which of these users hold a valid ticket for the event (issue 8: a member whose ticket was refunded
 * or voided since joining no longer reads, types or pages back). One indexed query for any number.
 */
export async function validTicketHolders(o: { db: Db; eventId: string; userIds: string[] }): Promise<Set<string>> {
  if (o.userIds.length === 0) return new Set();
  const rows = await o.db
    .selectDistinct({ userId: tickets.userId })
    .from(tickets)
    .where(and(eq(tickets.eventId, o.eventId), inArray(tickets.userId, o.userIds), eq(tickets.status, "valid")));
  return new Set(rows.map((r) => r.userId!));
}
