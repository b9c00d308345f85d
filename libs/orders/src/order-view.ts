import { asc, eq } from "drizzle-orm";
import { orderItems, orders, tickets, type Db } from "@seatdrop/db";
import type { Tx } from "./audit.ts";

/** An order as the API returns it (snake_case, prices in cents and in major units). */
export interface OrderView {
  id: string;
  user_id: string;
  event_id: string;
  status: "pending" | "paid" | "canceled" | "expired" | "refunded";
  total_cents: number;
  total: number;
  currency: string;
  expires_at: string;
  paid_at: string | null;
  closed_at: string | null;
  inserted_at: string;
  items: { seat_id: string; price_cents: number }[];
  tickets: { id: string; ticket_number: string; seat_id: string | null; status: string }[];
}

export async function loadOrderView(db: Db | Tx, orderId: string): Promise<OrderView | null> {
  const [o] = await db.select().from(orders).where(eq(orders.id, orderId));
  if (!o) return null;
  const items = await db.select().from(orderItems).where(eq(orderItems.orderId, orderId)).orderBy(asc(orderItems.seatId));
  const tix = await db.select().from(tickets).where(eq(tickets.orderId, orderId)).orderBy(asc(tickets.seatId));
  return {
    id: o.id,
    user_id: o.userId,
    event_id: o.eventId,
    status: o.status,
    total_cents: o.totalCents,
    total: o.totalCents / 100,
    currency: o.currency,
    expires_at: o.expiresAt.toISOString(),
    paid_at: o.paidAt?.toISOString() ?? null,
    closed_at: o.closedAt?.toISOString() ?? null,
    inserted_at: o.insertedAt.toISOString(),
    items: items.map((i) => ({ seat_id: i.seatId, price_cents: i.priceCents })),
    tickets: tix.map((t) => ({ id: t.id, ticket_number: t.ticketNumber, seat_id: t.seatId, status: t.status })),
  };
}
