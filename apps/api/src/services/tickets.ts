import { eq } from "drizzle-orm";
import { events, foreignKeyViolation, seatAudit, tickets, uniqueViolation, users, type Db } from "@seatdrop/db";
import { ApiError, conflict, notFound, validationFailed } from "../errors.ts";
import type { TicketView } from "../schemas/ticket.ts";

type TicketRow = typeof tickets.$inferSelect;

export function toTicketView(t: TicketRow): TicketView {
  return {
    id: t.id,
    ticket_number: t.ticketNumber,
    event_id: t.eventId,
    user_id: t.userId,
    status: t.status,
    used_at: t.usedAt ? t.usedAt.toISOString() : null,
    order_id: t.orderId,
    seat_id: t.seatId,
    inserted_at: t.insertedAt.toISOString(),
  };
}

/** Issues a ticket for an event (seed 003's box office); a number already issued is a 409. */
export async function createTicket(o: { db: Db; ticketNumber: string; eventId: string }): Promise<TicketView> {
  const [event] = await o.db.select({ id: events.id }).from(events).where(eq(events.id, o.eventId)).limit(1);
  if (!event) throw validationFailed([{ field: "ticket.event_id", message: "no event with this id" }]);
  try {
    const [row] = await o.db.insert(tickets).values({ ticketNumber: o.ticketNumber, eventId: o.eventId }).returning();
    if (!row) throw new Error("insert into tickets returned no row");
    return toTicketView(row);
  } catch (err) {
    if (uniqueViolation(err) === "tickets_number_key") throw conflict("ticket.ticket_number", "this ticket number has already been issued");
    // The event was deleted between the check and the insert.
    if (foreignKeyViolation(err) !== null) throw validationFailed([{ field: "ticket.event_id", message: "no event with this id" }]);
    throw err;
  }
}

/**
 * Assigns a ticket to a user, with the ticket row locked. Assigning it to its holder again changes
 * nothing; a ticket held by someone else is `ticket_claimed` and one used to enter the chat room is
 * `ticket_used` for a user. An admin may move any valid ticket, used or not: a stolen ticket must
 * be recoverable (issue 8, finding 1: a guessed number was claimed and the admin could not give it
 * back). A move of a ticket that had a holder is audited (`seat_audit`, action `ticket_reassigned`)
 * and the ticket counts as unused again, so its new holder's first join marks it.
 */
export async function assignTicket(o: { db: Db; ticketId: string; userId: string; byAdmin: boolean; actor?: string }): Promise<TicketView> {
  return o.db.transaction(async (tx) => {
    const [t] = await tx.select().from(tickets).where(eq(tickets.id, o.ticketId)).limit(1).for("update");
    if (!t) throw notFound("ticket");
    const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, o.userId)).limit(1);
    if (!user) throw notFound("user");
    if (t.userId === o.userId) return toTicketView(t);
    if (t.status !== "valid") throw new ApiError(409, "ticket_void", "this ticket is no longer valid");
    if (!o.byAdmin && t.usedAt !== null) throw new ApiError(409, "ticket_used", "this ticket was already used by its holder to enter the chat room");
    if (!o.byAdmin && t.userId !== null) throw new ApiError(409, "ticket_claimed", "this ticket is already assigned to another user");
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
    return toTicketView(row!);
  });
}
