import { asc, eq } from "drizzle-orm";
import { events, seats as seatsTable } from "@seatdrop/db";
import { naturalCompare, type SeatStateName } from "@seatdrop/seats";
import type { OrdersContext } from "./context.ts";
import { OrderError } from "./order-error.ts";

/** The seat map with each seat's live state, for clients that do not use the socket. */
export async function eventSeatMap(ctx: OrdersContext, eventId: string) {
  eventId = eventId.toLowerCase();
  const [event] = await ctx.db.select({ id: events.id }).from(events).where(eq(events.id, eventId));
  if (!event) throw new OrderError(404, "not_found", "no such event");
  await ctx.seats.ensureEventLoaded(eventId);
  const [rows, snap] = await Promise.all([
    ctx.db.select().from(seatsTable).where(eq(seatsTable.eventId, eventId)).orderBy(asc(seatsTable.seatId)),
    ctx.seats.snapshot({ eventId }),
  ]);
  rows.sort((a, b) => naturalCompare(a.seatId, b.seatId));
  return {
    event_id: eventId,
    seq: snap.seq,
    seats: rows.map((r) => ({
      id: r.seatId,
      section: r.section,
      row: r.row,
      number: r.number,
      price: r.priceCents / 100,
      state: (snap.taken.get(r.seatId)?.state ?? "available") as SeatStateName,
    })),
  };
}
