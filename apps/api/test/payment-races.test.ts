import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { orders, payments, tickets } from "@seatdrop/db";
import { createEvent, push, seatIdsGrid } from "../../../test/support/cluster.ts";
import { auth, pendingOrderOf, postWebhook, useOrdersWorld, type OrdersWorld } from "./orders-harness.ts";

/**
 * A payment webhook is the one message that moves money: it must come out right whatever it races
 * (the provider's own retry, the buyer's cancel, the payment window closing). Each round checks
 * the whole story agrees: the order's status, the payment's record, the tickets and the live map.
 */
let w: OrdersWorld;
const world = useOrdersWorld();
beforeAll(() => {
  w = world.w;
});
const { secret } = world;

const pendingOrder = (eventId: string, seat: string) => pendingOrderOf(world, eventId, seat);

async function story(orderId: string, eventId: string, seat: string) {
  const db = w.env.db.db;
  const [o] = await db.select({ status: orders.status }).from(orders).where(eq(orders.id, orderId));
  const pays = await db.select().from(payments).where(eq(payments.orderId, orderId));
  const issued = await db.select().from(tickets).where(eq(tickets.orderId, orderId));
  const live = (await w.cluster.seats.snapshot({ eventId })).taken.get(seat)?.state ?? "available";
  return { status: o!.status, payments: pays, tickets: issued.length, live };
}

function expectConsistent(s: Awaited<ReturnType<typeof story>>) {
  if (s.status === "paid") {
    expect(s.tickets).toBe(1);
    expect(s.live).toBe("paid");
    expect(s.payments.filter((p) => p.flaggedForRefund)).toHaveLength(0);
  } else {
    // Canceled or expired: no ticket, the seat is free again, and the money is flagged, never dropped.
    expect(["canceled", "expired"]).toContain(s.status);
    expect(s.tickets).toBe(0);
    expect(s.live).toBe("available");
    expect(s.payments).toHaveLength(1);
    expect(s.payments[0]!.flaggedForRefund).toBe(true);
  }
}

describe("payment webhook races", () => {
  it("two copies of one webhook at once: the order is paid once, one ticket, one payment", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 1));
    const { order } = await pendingOrder(eventId, "A_1");
    const body = { payment_id: "pay_twice", order_id: order.id, amount: order.total_cents / 100, currency: "EUR", status: "succeeded" };
    const [a, b] = await Promise.all([postWebhook(w.app, secret(), body), postWebhook(w.app, secret(), body)]);
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
    expect([a.json().result, b.json().result]).toEqual(["paid", "paid"]);
    expect([a.json().duplicate, b.json().duplicate].sort()).toEqual([false, true]);
    const s = await story(order.id, eventId, "A_1");
    expect(s.status).toBe("paid");
    expect(s.payments).toHaveLength(1);
    expectConsistent(s);
  });

  it("a webhook racing the buyer's cancel: paid with the cancel refused, or canceled with the payment flagged; never both", async () => {
    const rounds = 8;
    const eventId = await createEvent(w.env, seatIdsGrid(1, rounds));
    const outcomes: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const seat = `A_${i + 1}`;
      const { user, order } = await pendingOrder(eventId, seat);
      const body = { payment_id: `pay_cancel_${i}`, order_id: order.id, amount: order.total_cents / 100, currency: "EUR", status: "succeeded" };
      const cancel = () => w.app.inject({ method: "POST", url: `/api/orders/${order.id}/cancel`, headers: auth(user.token) });
      // Alternate who starts first, so both orders of arrival are exercised.
      const [hook, canceled] = i % 2 ? await Promise.all([postWebhook(w.app, secret(), body), cancel()]) : await Promise.all([cancel(), postWebhook(w.app, secret(), body)]).then(([c, h]) => [h, c] as const);
      const s = await story(order.id, eventId, seat);
      expectConsistent(s);
      if (s.status === "paid") {
        expect(hook.json().result).toBe("paid");
        expect(canceled.statusCode).toBe(409);
      } else {
        expect(s.status).toBe("canceled");
        expect(canceled.statusCode).toBe(200);
        expect(hook.json().result).toBe("flagged_for_refund");
      }
      outcomes.push(s.status);
    }
    // The first to take the order's row wins; with both orders of arrival, both outcomes should appear.
    console.log(`webhook vs cancel: ${outcomes.join(", ")}`);
  });

  it("a webhook racing the payment window: paid and kept paid, or expired with the payment flagged", async () => {
    const rounds = 6;
    const eventId = await createEvent(w.env, seatIdsGrid(1, rounds), { paymentWindowMs: 400 });
    for (let i = 0; i < rounds; i++) {
      const seat = `A_${i + 1}`;
      const { order } = await pendingOrder(eventId, seat);
      const body = { payment_id: `pay_expiry_${i}`, order_id: order.id, amount: order.total_cents / 100, currency: "EUR", status: "succeeded" };
      // Aim from 40 ms before to 60 ms after the window closes.
      await new Promise((r) => setTimeout(r, Math.max(0, new Date(order.expires_at).getTime() - Date.now() + (i - 2) * 20)));
      const hook = await postWebhook(w.app, secret(), body);
      expect(hook.statusCode).toBe(200);
      // Let the worker's expiry run (it must not expire a paid order), then read the settled story.
      await expect.poll(async () => (await story(order.id, eventId, seat)).status, { timeout: 10_000 }).not.toBe("pending");
      await new Promise((r) => setTimeout(r, 300));
      const s = await story(order.id, eventId, seat);
      expectConsistent(s);
      expect(hook.json().result).toBe(s.status === "paid" ? "paid" : "flagged_for_refund");
    }
  });
});
