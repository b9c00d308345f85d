import { assignTicket as assign, issueTicket, TicketError, type TicketRow } from "@seatdrop/tickets";
import type { Db } from "@seatdrop/db";
import { ApiError, conflict, notFound, validationFailed } from "../errors.ts";
import type { TicketView } from "../schemas/ticket.ts";

/**
 * The API's face of `@seatdrop/tickets`, which owns the rules: the wire view, and each refusal as
 * the HTTP error the routes document.
 */
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

/** Issues a ticket for an event (the box office); a number already issued is a 409. */
export async function createTicket(o: { db: Db; ticketNumber: string; eventId: string }): Promise<TicketView> {
  return toTicketView(await issueTicket(o.db, o).catch(rethrow));
}

/**
 * Assigns a ticket to a user (rules in `@seatdrop/tickets`: a user may take a free unused ticket; an
 * admin may move any valid one, used or not, audited as `ticket_reassigned`).
 */
export async function assignTicket(o: { db: Db; ticketId: string; userId: string; byAdmin: boolean; actor?: string }): Promise<TicketView> {
  return toTicketView(await assign(o.db, o).catch(rethrow));
}

function rethrow(err: unknown): never {
  if (!(err instanceof TicketError)) throw err;
  switch (err.code) {
    case "unknown_event":
      throw validationFailed([{ field: "ticket.event_id", message: err.message }]);
    case "number_taken":
      throw conflict("ticket.ticket_number", err.message);
    case "ticket_not_found":
      throw notFound("ticket");
    case "user_not_found":
      throw notFound("user");
    case "ticket_void":
    case "ticket_used":
    case "ticket_claimed":
      throw new ApiError(409, err.code, err.message);
    default:
      throw err;
  }
}
