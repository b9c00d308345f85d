import { eq, sql } from "drizzle-orm";
import { chatRooms, events, type Db } from "@seatdrop/db";
import { claimTicket, TicketError, validTicketHolders as holders, type ClaimedTicket } from "@seatdrop/tickets";
import type { RoomStatus } from "@seatdrop/protocol";
import { ChatError } from "./errors.ts";

/** A chat room as the channel needs it. */
export interface RoomRef {
  id: string;
  eventId: string;
  status: RoomStatus;
}

/** The ticket that let a user in. */
export type AdmittedTicket = ClaimedTicket;

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
 * The chat service's way into a room: the event's room, and the caller's ticket claimed through
 * `@seatdrop/tickets` (their own valid ticket, or a number they enter: see `claimTicket`, which owns
 * the rules and the ONE uniform `invalid_ticket` refusal of a number).
 *
 * Refusals: `unknown_event`, `unauthorized` (no ticket at all), `invalid_ticket` (field `ticket_number`).
 */
export async function admitToRoom(o: { db: Db; eventId: string; userId: string; ticketNumber?: string }): Promise<{ room: RoomRef; ticket: AdmittedTicket }> {
  const room = await findOrCreateRoom({ db: o.db, eventId: o.eventId });
  if (!room) throw new ChatError("unknown_event", `no event ${o.eventId}`);
  try {
    const ticket = await claimTicket(o.db, { eventId: o.eventId, userId: o.userId, ticketNumber: o.ticketNumber });
    return { room, ticket };
  } catch (err) {
    if (err instanceof TicketError && err.code === "no_ticket")
      throw new ChatError("unauthorized", "you need a ticket for this event: join with {\"ticket_number\": …} or get one assigned");
    if (err instanceof TicketError && err.code === "invalid_ticket") throw new ChatError("invalid_ticket", err.message, { field: "ticket_number" });
    throw err;
  }
}

/** Which of these users hold a valid ticket for the event (see `@seatdrop/tickets`). */
export async function validTicketHolders(o: { db: Db; eventId: string; userIds: string[] }): Promise<Set<string>> {
  return holders(o.db, o);
}
