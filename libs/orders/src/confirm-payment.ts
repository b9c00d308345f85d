import { eq } from "drizzle-orm";
import { metrics } from "@seatdrop/observability";
import { orderItems, orders, paymentEvents, payments } from "@seatdrop/db";
import { issueOrderTickets } from "@seatdrop/tickets";
import { isUuid } from "@seatdrop/seats";
import { audit } from "./audit.ts";
import type { OrdersContext } from "./context.ts";
import { loadOrderView, type OrderView } from "./order-view.ts";
import { syncSeats } from "./seat-sync.ts";

export interface PaymentNotice {
  paymentId: string;
  orderId: string;
  /** In major units, as the provider sends it (45.5 = 45.50). */
  amount: number;
  currency: string;
  status: "succeeded" | "failed";
  /** The provider's id of this delivery (Stripe's `evt_…`), when it sends one. */
  eventId?: string;
}

export type PaymentResult = "paid" | "payment_failed" | "flagged_for_refund";

/**
 * Applies a payment confirmation, exactly once per provider event (providers deliver webhooks
 * twice): a repeat answers with what the first one did. The event is the provider's `event_id` when
 * it sends one, else the payment id with its status, so a payment that failed and then succeeded is
 * two events and the success is applied (docs/reliability.md, round one, finding 4: answered as a
 * duplicate of the failure, it would let the order expire with the customer charged). A success is
 * never dropped: it pays the order, or is recorded and flagged for refund when the order can no
 * longer be paid (expired, canceled, already paid, amount or currency wrong, unknown). Rather than
 * selling the seats again when they are still free (the design's first plan), a late payment is
 * always refunded, never re-sold (docs/decisions/0008-late-payments-refunded.md): the
 * seats may be someone else's hold by then, and a refund is the answer every buyer can understand.
 * A failure after a success changes nothing. A good one marks the order paid, issues one ticket per
 * seat, and then moves the seats to `paid` on the live map.
 */
export async function confirmPayment(ctx: OrdersContext, p: PaymentNotice): Promise<{ result: PaymentResult; duplicate: boolean; order: OrderView | null; note: string | null }> {
  const amountCents = Math.round(p.amount * 100);
  const eventKey = p.eventId !== undefined ? `evt:${p.eventId}` : `${p.paymentId}:${p.status}`;
  const outcome = await ctx.db.transaction(async (tx) => {
    const [fresh] = await tx
      .insert(paymentEvents)
      .values({ id: eventKey, paymentId: p.paymentId, status: p.status, amountCents, currency: p.currency, result: "processing" })
      .onConflictDoNothing()
      .returning({ id: paymentEvents.id });
    if (!fresh) {
      const [prior] = await tx.select().from(paymentEvents).where(eq(paymentEvents.id, eventKey));
      return { result: toResult(prior!.result), duplicate: true, note: prior!.note, paid: null };
    }
    const decided = await decide();
    await tx.update(paymentEvents).set({ result: decided.result, note: decided.note }).where(eq(paymentEvents.id, eventKey));
    return decided;

    async function decide() {
      // The payment row: one per payment id, holding its latest state (failed → succeeded, never back).
      const [inserted] = await tx
        .insert(payments)
        .values({ id: p.paymentId, orderId: isUuid(p.orderId) ? p.orderId : null, providerOrderRef: p.orderId, amountCents, currency: p.currency, status: p.status })
        .onConflictDoNothing()
        .returning();
      if (!inserted) {
        const [prior] = await tx.select().from(payments).where(eq(payments.id, p.paymentId)).for("update");
        const priorResult: PaymentResult = prior!.flaggedForRefund ? "flagged_for_refund" : prior!.status === "failed" ? "payment_failed" : "paid";
        // The same outcome delivered again under another event id, or a failure after a success: answer
        // as the first time; nothing is undone.
        if (prior!.status === "succeeded" || p.status === "failed") return { result: priorResult, duplicate: true, note: prior!.note, paid: null };
        // A success after a failure: the payment now succeeded; apply it to its order below.
        await tx.update(payments).set({ status: "succeeded", amountCents, currency: p.currency, note: "succeeded after an earlier failure" }).where(eq(payments.id, p.paymentId));
        if ((prior!.providerOrderRef ?? prior!.orderId) !== p.orderId) {
          const note = `payment ${p.paymentId} was first reported for order ${prior!.orderId}`;
          await tx.update(payments).set({ flaggedForRefund: true, note }).where(eq(payments.id, p.paymentId));
          return { result: "flagged_for_refund" as const, duplicate: false, note, paid: null };
        }
      }
      const flag = async (note: string) => {
        await tx.update(payments).set({ flaggedForRefund: true, note }).where(eq(payments.id, p.paymentId));
        return { result: "flagged_for_refund" as const, duplicate: false, note, paid: null };
      };
      const [order] = isUuid(p.orderId) ? await tx.select().from(orders).where(eq(orders.id, p.orderId)).for("update") : [];
      if (!order) return flag("no such order");
      if (p.status === "failed") {
        await tx.update(payments).set({ note: "payment failed; the order stays pending" }).where(eq(payments.id, p.paymentId));
        return { result: "payment_failed" as const, duplicate: false, note: "payment failed; the order stays pending", paid: null };
      }
      if (order.status !== "pending") return flag(`the order is ${order.status}`);
      if (amountCents !== order.totalCents || p.currency !== order.currency)
        return flag(`amount ${amountCents} ${p.currency} does not match the order's ${order.totalCents} ${order.currency}`);

      const items = await tx.select().from(orderItems).where(eq(orderItems.orderId, order.id));
      await tx.update(orders).set({ status: "paid", paidAt: new Date(), updatedAt: new Date() }).where(eq(orders.id, order.id));
      // One ticket per seat, all linked to the order (and so to its buyer); see issueOrderTickets.
      const seatIds = items.map((i) => i.seatId);
      await issueOrderTickets(tx, { eventId: order.eventId, orderId: order.id, buyerId: order.userId, seatIds });
      await audit(tx, { eventId: order.eventId, orderId: order.id, seatIds, action: "paid", actor: `payment:${p.paymentId}` });
      return { result: "paid" as const, duplicate: false, note: null, paid: { order, seatIds } };
    }
  });
  if (outcome.paid) {
    metrics.orders.inc({ state: "paid" });
    const { order, seatIds } = outcome.paid;
    await syncSeats(ctx, { eventId: order.eventId, orderId: order.id, userId: order.userId, seatIds, action: "pay", why: "" });
  }
  const order = isUuid(p.orderId) ? await loadOrderView(ctx.db, p.orderId) : null;
  return { result: outcome.result, duplicate: outcome.duplicate, order, note: outcome.note };
}

function toResult(stored: string): PaymentResult {
  return stored === "paid" || stored === "payment_failed" || stored === "flagged_for_refund" ? stored : "flagged_for_refund";
}
