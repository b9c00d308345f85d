import { and, eq, lt } from "drizzle-orm";
import { metrics } from "@seatdrop/observability";
import { orderItems, orders } from "@seatdrop/db";
import { voidOrderTickets } from "@seatdrop/tickets";
import { audit } from "./audit.ts";
import type { OrdersContext } from "./context.ts";
import { OrderError } from "./order-error.ts";
import { loadOrderView, type OrderView } from "./order-view.ts";
import { syncSeats } from "./seat-sync.ts";

export interface Requester {
  userId: string;
  role: string;
}

const canActFor = (r: Requester, ownerId: string) => r.userId === ownerId || r.role === "admin" || r.role === "service";

/**
 * Ends a pending order without payment: `canceled` by its owner, or `expired` when its payment
 * window is over. The row is locked (FOR UPDATE), so a payment confirmation racing this waits and
 * then finds the order closed (and is flagged for refund). Seats go back to available.
 */
export async function closePendingOrder(
  ctx: OrdersContext,
  o: { orderId: string; to: "canceled" | "expired"; requester?: Requester },
): Promise<{ changed: boolean; order: OrderView }> {
  const outcome = await ctx.db.transaction(async (tx) => {
    const [order] = await tx.select().from(orders).where(eq(orders.id, o.orderId)).for("update");
    if (!order) throw new OrderError(404, "not_found", "no such order");
    if (o.requester && !canActFor(o.requester, order.userId)) throw new OrderError(403, "forbidden", "this order is not yours");
    if (order.status !== "pending") {
      if (o.to === "canceled") throw new OrderError(409, "order_not_pending", `the order is ${order.status}`);
      return null;
    }
    if (o.to === "expired" && order.expiresAt.getTime() > Date.now()) {
      // A job that runs early (clock skew between hosts): BullMQ retries it after a backoff.
      throw new Error(`order ${order.id} expires at ${order.expiresAt.toISOString()}, not yet`);
    }
    const items = await tx.update(orderItems).set({ live: false }).where(eq(orderItems.orderId, order.id)).returning({ seatId: orderItems.seatId });
    await tx.update(orders).set({ status: o.to, closedAt: new Date(), updatedAt: new Date() }).where(eq(orders.id, order.id));
    const seatIds = items.map((i) => i.seatId);
    await audit(tx, { eventId: order.eventId, orderId: order.id, seatIds, action: o.to, actor: o.requester ? `user:${o.requester.userId}` : "worker" });
    return { order, seatIds };
  });
  if (outcome) {
    metrics.orders.inc({ state: o.to });
    await syncSeats(ctx, { eventId: outcome.order.eventId, orderId: outcome.order.id, userId: outcome.order.userId, seatIds: outcome.seatIds, action: "unreserve", why: o.to });
  }
  return { changed: outcome !== null, order: (await loadOrderView(ctx.db, o.orderId))! };
}

/**
 * Refunds a paid order (admin or service): `refunded`, its tickets void, its seats `unpaid` and
 * lockable again.
 */
export async function refundOrder(ctx: OrdersContext, o: { orderId: string; requester: Requester }): Promise<OrderView> {
  if (o.requester.role !== "admin" && o.requester.role !== "service") throw new OrderError(403, "forbidden", "refunds need the admin or service role");
  const outcome = await ctx.db.transaction(async (tx) => {
    const [order] = await tx.select().from(orders).where(eq(orders.id, o.orderId)).for("update");
    if (!order) throw new OrderError(404, "not_found", "no such order");
    if (order.status !== "paid") throw new OrderError(409, "order_not_paid", `only a paid order can be refunded; this one is ${order.status}`);
    const items = await tx.update(orderItems).set({ live: false }).where(eq(orderItems.orderId, order.id)).returning({ seatId: orderItems.seatId });
    await tx.update(orders).set({ status: "refunded", closedAt: new Date(), updatedAt: new Date() }).where(eq(orders.id, order.id));
    await voidOrderTickets(tx, order.id);
    const seatIds = items.map((i) => i.seatId);
    await audit(tx, { eventId: order.eventId, orderId: order.id, seatIds, action: "refunded", actor: `user:${o.requester.userId}` });
    return { order, seatIds };
  });
  metrics.orders.inc({ state: "refunded" });
  await syncSeats(ctx, { eventId: outcome.order.eventId, orderId: outcome.order.id, userId: outcome.order.userId, seatIds: outcome.seatIds, action: "revoke", why: "refunded" });
  return (await loadOrderView(ctx.db, o.orderId))!;
}

/** The safety net behind the expiry jobs: pending orders past their window, a batch at a time. */
export async function expireOverdueOrders(ctx: OrdersContext, limit = 100): Promise<number> {
  const due = await ctx.db
    .select({ id: orders.id })
    .from(orders)
    .where(and(eq(orders.status, "pending"), lt(orders.expiresAt, new Date(Date.now() - 1000))))
    .limit(limit);
  let n = 0;
  for (const d of due) if ((await closePendingOrder(ctx, { orderId: d.id, to: "expired" })).changed) n++;
  return n;
}
