import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { events, foreignKeyViolation, seatAudit, tickets, uniqueViolation, users, type Db } from "@seatdrop/db";
import { newTicketNumber } from "./ticket-number.ts";

/**
 * Tickets: issue, claim, assign, void. The one home of their rules; the API routes, the chat room's
 * door and the order flow all go through here, so a ticket means the same thing everywhere.
 */

export type TicketRow = typeof tickets.$inferSelect;
/** A transaction, for callers (the order flow) that issue or void tickets inside their own. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

export type TicketErrorCode =
  | "unknown_event"
  | "number_taken"
  | "ticket_not_found"
  | "user_not_found"
  | "ticket_void"
  | "ticket_used"
  | "ticket_claimed"
  | "invalid_ticket"
  | "no_ticket";

/** A ticket refused; each caller words it for its own clients (HTTP status, channel reply). */
export class TicketError extends Error {
  constructor(
    readonly code: TicketErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "TicketError";
  }
}

/**
 * THE rule of who may take a ticket: it must be valid; its holder keeps it; a non-admin may take
 * only one that nobody holds and nobody has used (a used ticket whose holder was deleted stays
 * used: only an admin can give it out again). An admin may move any valid ticket, used or not, so
 * a stolen one can be recovered (docs/reliability.md, round one, finding 1). Null: allowed.
 */
function refusal(t: TicketRow, userId: string, byAdmin: boolean): "ticket_void" | "ticket_used" | "ticket_claimed" | null {
  if (t.status !== "valid") return "ticket_void";
  if (t.userId === userId || byAdmin) return null;
  if (t.usedAt !== null) return "ticket_used";
  if (t.userId !== null) return "ticket_claimed";
  return null;
}

/** Issues a ticket for an event (the box office). */
export async function issueTicket(db: Db, o: { ticketNumber: string; eventId: string }): Promise<TicketRow> {
  const [event] = await db.select({ id: events.id }).from(events).where(eq(events.id, o.eventId)).limit(1);
  if (!event) throw new TicketError("unknown_event", "no event with this id");
  try {
    const [row] = await db.insert(tickets).values({ ticketNumber: o.ticketNumber, eventId: o.eventId }).returning();
    if (!row) throw new Error("insert into tickets returned no row");
    return row;
  } catch (err) {
    if (uniqueViolation(err) === "tickets_number_key") throw new TicketError("number_taken", "this ticket number has already been issued");
    // The event was deleted between the check and the insert.
    if (foreignKeyViolation(err) !== null) throw new TicketError("unknown_event", "no event with this id");
    throw err;
  }
}

/**
 * The tickets of a paid order, one per seat, inside the order's transaction. The buyer holds the
 * first (seats in natural order); the others stay unassigned, so the companions the buyer gives the
 * numbers to claim them when they join the chat room (the chat service's "enter ticket number → associate").
 */
export async function issueOrderTickets(tx: Tx, o: { eventId: string; orderId: string; buyerId: string; seatIds: string[] }): Promise<void> {
  const bySeat = [...o.seatIds].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  if (bySeat.length === 0) return;
  await tx
    .insert(tickets)
    .values(bySeat.map((seatId, n) => ({ eventId: o.eventId, ticketNumber: newTicketNumber(), userId: n === 0 ? o.buyerId : null, orderId: o.orderId, seatId })));
}

/** Voids an order's tickets (refund, cancel), inside the order's transaction. */
export async function voidOrderTickets(tx: Tx, orderId: string): Promise<void> {
  await tx.update(tickets).set({ status: "void" }).where(eq(tickets.orderId, orderId));
}

/**
 * Assigns a ticket to a user, with the ticket row locked (rules: {@link refusal}). Assigning it to
 * its holder again changes nothing. A move of a ticket that had a holder or was used is audited
 * (`seat_audit`, action `ticket_reassigned`) and the ticket counts as unused again, so its new
 * holder's first join marks it.
 */
export async function assignTicket(db: Db, o: { ticketId: string; userId: string; byAdmin: boolean; actor?: string }): Promise<TicketRow> {
  return db.transaction(async (tx) => {
    const [t] = await tx.select().from(tickets).where(eq(tickets.id, o.ticketId)).limit(1).for("update");
    if (!t) throw new TicketError("ticket_not_found", "no such ticket");
    const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, o.userId)).limit(1);
    if (!user) throw new TicketError("user_not_found", "no such user");
    if (t.userId === o.userId) return t;
    const refused = refusal(t, o.userId, o.byAdmin);
    if (refused === "ticket_void") throw new TicketError(refused, "this ticket is no longer valid");
    if (refused === "ticket_used") throw new TicketError(refused, "this ticket was already used by its holder to enter the chat room");
    if (refused === "ticket_claimed") throw new TicketError(refused, "this ticket is already assigned to another user");
    const [row] = await tx.update(tickets).set({ userId: o.userId, usedAt: null }).where(eq(tickets.id, t.id)).returning();
    if (t.userId !== null || t.usedAt !== null) {
      await tx.insert(seatAudit).values({
        eventId: t.eventId,
        seatId: t.seatId,
        orderId: t.orderId,
        action: "ticket_reassigned",
        actor: o.actor ?? null,
        detail: { ticket_id: t.id, from_user: t.userId, to_user: o.userId, was_used_at: t.usedAt?.toISOString() ?? null },
      });
    }
    return row!;
  });
}

/** The ticket a claim used. */
export interface ClaimedTicket {
  id: string;
  ticketNumber: string;
  /** True when this claim took it (associated it with the user and marked it used). */
  claimedNow: boolean;
}

/**
 * The chat service's claim (the chat room's door): the user's own valid ticket for the event, or a ticket
 * number they enter, which is checked ({@link refusal}), associated with them and marked used, all in
 * ONE transaction with the ticket row locked, so two users racing for one number never both get it.
 *
 * Refusals: `no_ticket` (none of their own), and for a number ONE uniform `invalid_ticket`, whether
 * it does not exist, is another event's, was voided, used or belongs to someone else: distinct
 * reasons would tell a guesser which numbers exist (docs/reliability.md, round one, finding 1).
 */
export async function claimTicket(db: Db, o: { eventId: string; userId: string; ticketNumber?: string }): Promise<ClaimedTicket> {
  return db.transaction(async (tx) => {
    if (o.ticketNumber !== undefined) {
      // Control characters (PostgreSQL answers U+0000 with an error, which would surface as
      // `internal_error`) are in no ticket number, so such a number is simply not a ticket.
      if (/[\u0000-\u001f\u007f]/.test(o.ticketNumber)) throw invalidTicket();
      const [t] = await tx.select().from(tickets).where(eq(tickets.ticketNumber, o.ticketNumber)).limit(1).for("update");
      if (!t || t.eventId !== o.eventId || refusal(t, o.userId, false) !== null) throw invalidTicket();
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
    if (!t) throw new TicketError("no_ticket", "you need a ticket for this event");
    if (t.usedAt === null) await tx.update(tickets).set({ usedAt: new Date() }).where(eq(tickets.id, t.id));
    return { id: t.id, ticketNumber: t.ticketNumber, claimedNow: t.usedAt === null };
  });
}

function invalidTicket(): TicketError {
  return new TicketError("invalid_ticket", "this ticket number does not let you into this room");
}

/**
 * Which of these users hold a valid ticket for the event (so a member whose ticket was refunded or
 * voided since joining no longer reads, types or pages back). One indexed query for any number.
 */
export async function validTicketHolders(db: Db, o: { eventId: string; userIds: string[] }): Promise<Set<string>> {
  if (o.userIds.length === 0) return new Set();
  const rows = await db
    .selectDistinct({ userId: tickets.userId })
    .from(tickets)
    .where(and(eq(tickets.eventId, o.eventId), inArray(tickets.userId, o.userIds), eq(tickets.status, "valid")));
  return new Set(rows.map((r) => r.userId!));
}
