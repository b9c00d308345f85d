import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { orders, paymentEvents, payments, tickets } from "@seatdrop/db";
import { createEvent, push, seatIdsGrid } from "../../../test/support/cluster.ts";
import { pendingOrderOf, postWebhook, useOrdersWorld, type OrdersWorld } from "./orders-harness.ts";

/**
 * docs/reliability.md, round one, finding 4: a success after a failure with the same `payment_id`
 * was answered as a duplicate of the failure and dropped; the order expired with the customer
 * charged. Webhooks are now deduplicated per provider event, and a success is never dropped.
 */

let w: OrdersWorld;
const world = useOrdersWorld();
beforeAll(() => {
  w = world.w;
});
const { secret } = world;

/** A pending order of one seat (10 EUR) for a new user. */
async function pendingOrder(settings: { paymentWindowMs?: number } = {}) {
  const eventId = await createEvent(w.env, seatIdsGrid(1, 2), settings);
  return (await pendingOrderOf(world, eventId, "A_1")).order;
}

const ticketsOf = async (orderId: string) => w.env.db.db.select().from(tickets).where(eq(tickets.orderId, orderId));

/** Figures of the last run, printed as one line. */
const figures: string[] = [];

describe("payment webhooks, deduplicated per provider event", () => {
  afterAll(() => console.log(`payments: ${figures.join("; ")}`));
  it("a payment naming no order of ours is recorded with the reference the provider sent, and flagged", async () => {
    const res = await postWebhook(w.app, secret(), { payment_id: "pay_foreign_ref", order_id: "ord_from_elsewhere", amount: 12, currency: "EUR", status: "succeeded" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ result: "flagged_for_refund", order_status: null });
    const [row] = await w.env.db.db.select().from(payments).where(eq(payments.id, "pay_foreign_ref"));
    // No placeholder order id: NULL, and the provider's own reference kept beside it.
    expect(row).toMatchObject({ orderId: null, providerOrderRef: "ord_from_elsewhere", flaggedForRefund: true, amountCents: 1200 });
  });

  it("a success after a failure with the same payment_id pays the order", async () => {
    const o = await pendingOrder();
    const base = { payment_id: "pay_retry_1", order_id: o.id, amount: 10, currency: "EUR" };
    const failed = await postWebhook(w.app, secret(), { ...base, status: "failed" });
    expect(failed.json()).toMatchObject({ result: "payment_failed", duplicate: false, order_status: "pending" });
    const ok = await postWebhook(w.app, secret(), { ...base, status: "succeeded" });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ result: "paid", duplicate: false, order_status: "paid" });
    expect(await ticketsOf(o.id)).toHaveLength(1);
    const [p] = await w.env.db.db.select().from(payments).where(eq(payments.id, "pay_retry_1"));
    expect(p).toMatchObject({ status: "succeeded", flaggedForRefund: false });
    // Both deliveries are on record.
    const recorded = (await w.env.db.db.select().from(paymentEvents).where(eq(paymentEvents.paymentId, "pay_retry_1"))).map((e) => e.result).sort();
    expect(recorded).toEqual(["paid", "payment_failed"]);
    figures.push(`failed then succeeded (one payment_id): order ${String(ok.json().order_status)}, ${(await ticketsOf(o.id)).length} ticket, deliveries recorded ${recorded.join(" + ")}`);
  });

  it("a success after a failure for an order that expired meanwhile is recorded and flagged, not dropped", async () => {
    const o = await pendingOrder({ paymentWindowMs: 1000 });
    const base = { payment_id: "pay_retry_late", order_id: o.id, amount: 10, currency: "EUR" };
    expect((await postWebhook(w.app, secret(), { ...base, status: "failed" })).json()).toMatchObject({ result: "payment_failed" });
    for (let i = 0; i < 100; i++) {
      const [row] = await w.env.db.db.select({ status: orders.status }).from(orders).where(eq(orders.id, o.id));
      if (row?.status === "expired") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const ok = await postWebhook(w.app, secret(), { ...base, status: "succeeded" });
    expect(ok.json()).toMatchObject({ result: "flagged_for_refund", duplicate: false, order_status: "expired" });
    const [p] = await w.env.db.db.select().from(payments).where(eq(payments.id, "pay_retry_late"));
    expect(p).toMatchObject({ status: "succeeded", flaggedForRefund: true });
    figures.push(`the same after the order ${String(ok.json().order_status)}: ${String(ok.json().result)} (payment ${p!.status}, flagged ${p!.flaggedForRefund})`);
  });

  it("the same provider event twice is one; the same success under another event id changes nothing", async () => {
    const o = await pendingOrder();
    const body = { payment_id: "pay_evt_1", order_id: o.id, amount: 10, currency: "EUR", status: "succeeded", event_id: "evt_A" };
    const answers = [await postWebhook(w.app, secret(), body), await postWebhook(w.app, secret(), body), await postWebhook(w.app, secret(), { ...body, event_id: "evt_B" })].map((r) => r.json() as { result: string; duplicate: boolean });
    expect(answers[0]).toMatchObject({ result: "paid", duplicate: false });
    expect(answers[1]).toMatchObject({ result: "paid", duplicate: true });
    expect(answers[2]).toMatchObject({ result: "paid", duplicate: true });
    expect(await ticketsOf(o.id)).toHaveLength(1);
    figures.push(`a success as evt_A, evt_A again, evt_B: duplicate ${answers.map((a) => a.duplicate).join("/")}, ${(await ticketsOf(o.id)).length} ticket`);
  });

  it("a failure after a success leaves the order paid", async () => {
    const o = await pendingOrder();
    const base = { payment_id: "pay_then_fail", order_id: o.id, amount: 10, currency: "EUR" };
    expect((await postWebhook(w.app, secret(), { ...base, status: "succeeded" })).json()).toMatchObject({ result: "paid" });
    const failed = (await postWebhook(w.app, secret(), { ...base, status: "failed" })).json() as { order_status: string };
    expect(failed).toMatchObject({ result: "paid", duplicate: true, order_status: "paid" });
    expect(await ticketsOf(o.id)).toHaveLength(1);
    figures.push(`failed after succeeded: order still ${failed.order_status}, ${(await ticketsOf(o.id)).length} ticket`);
  });
});
