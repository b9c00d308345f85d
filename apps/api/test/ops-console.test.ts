import { count } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { events, seats as seatsTable } from "@seatdrop/db";
import { createEvent, createUser, seatIdsGrid } from "../../../test/support/cluster.ts";
import { auth, pendingOrderOf, postWebhook, useOrdersWorld } from "./orders-harness.ts";

/**
 * The routes behind the ops console's drop controls: holds named by the buyer's email, an event's
 * orders (with the buyers' emails and seats) that the console refunds, and a seat map read from a
 * box office's CSV, every bad line and column named and nothing stored.
 */
const use = useOrdersWorld();
const csv = (admin: string, body: string) => use.w.app.inject({ method: "POST", url: "/api/seat_maps/csv", headers: { ...auth(admin), "content-type": "text/csv" }, payload: body });
const eventCount = async () => (await use.w.env.db.db.select({ n: count() }).from(events))[0]!.n;

describe("holds and orders for the ops console", () => {
  it("names each hold's buyer by email in GET /api/ops/status", async () => {
    const admin = await createUser(use.w.env, "admin");
    const eventId = await createEvent(use.w.env, seatIdsGrid(1, 3));
    const { user } = await pendingOrderOf(use, eventId, "A_1"); // an order, not a hold: not listed
    const holder = await createUser(use.w.env);
    await use.w.cluster.seats.lock({ eventId, userId: holder.id, seatId: "A_2" });
    const s = (await use.w.app.inject({ method: "GET", url: "/api/ops/status", headers: auth(admin.token) })).json();
    const row = s.events.find((e: { id: string }) => e.id === eventId);
    expect(row.hold_list).toEqual([expect.objectContaining({ user_id: holder.id, email: `${holder.id}@test.local` })]);
    expect(user.id).not.toBe(holder.id);
  });

  it("lists an event's orders newest first with email, seats and total; filters by status; refund from the list", async () => {
    const admin = await createUser(use.w.env, "admin");
    const eventId = await createEvent(use.w.env, seatIdsGrid(1, 4));
    const first = await pendingOrderOf(use, eventId, "A_1");
    const second = await pendingOrderOf(use, eventId, "A_2");
    const paid = await postWebhook(use.w.app, use.secret(), { payment_id: `pay-${first.order.id}`, order_id: first.order.id, amount: 10, currency: "EUR", status: "succeeded" });
    expect(paid.statusCode, paid.body).toBe(200);
    const list = async (q = "") => use.w.app.inject({ method: "GET", url: `/api/ops/events/${eventId}/orders${q}`, headers: auth(admin.token) });
    const all = (await list()).json();
    expect(all.orders.map((o: { id: string }) => o.id)).toEqual([second.order.id, first.order.id]);
    expect(all.orders[1]).toMatchObject({ status: "paid", email: `${first.user.id}@test.local`, seats: ["A_1"], total: 10, currency: "EUR" });
    expect(all.orders[1].paid_at).not.toBeNull();
    expect((await list("?status=pending")).json().orders.map((o: { id: string }) => o.id)).toEqual([second.order.id]);
    // The console's Refund is the orders route; the list then says refunded.
    const refund = await use.w.app.inject({ method: "POST", url: `/api/orders/${first.order.id}/refund`, headers: auth(admin.token) });
    expect(refund.statusCode, refund.body).toBe(200);
    expect((await list("?status=refunded")).json().orders).toEqual([expect.objectContaining({ id: first.order.id, status: "refunded" })]);
  });

  it("is for admins, names a bad status, and answers 404 for an unknown event", async () => {
    const admin = await createUser(use.w.env, "admin");
    const buyer = await createUser(use.w.env);
    const eventId = await createEvent(use.w.env, seatIdsGrid(1, 1));
    expect((await use.w.app.inject({ method: "GET", url: `/api/ops/events/${eventId}/orders` })).statusCode).toBe(401);
    expect((await use.w.app.inject({ method: "GET", url: `/api/ops/events/${eventId}/orders`, headers: auth(buyer.token) })).statusCode).toBe(403);
    const bad = await use.w.app.inject({ method: "GET", url: `/api/ops/events/${eventId}/orders?status=lost`, headers: auth(admin.token) });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors[0].field).toContain("status");
    expect((await use.w.app.inject({ method: "GET", url: "/api/ops/events/00000000-0000-4000-8000-000000000000/orders", headers: auth(admin.token) })).statusCode).toBe(404);
  });
});

describe("POST /api/seat_maps/csv", () => {
  it("reads a box office's CSV into the seats POST /api/events takes, ids made from section, row and number", async () => {
    const admin = (await createUser(use.w.env, "admin")).token;
    const r = await csv(admin, "\ufeffSection,Row,Number,Price\nFloor A,1,1,45.50\nFloor A,1,2,45.5\nBalcony,B,1,30\n\n");
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toEqual({
      count: 3,
      sections: ["Floor A", "Balcony"],
      seats: [
        { id: "Floor-A_1_1", section: "Floor A", row: "1", number: 1, price: 45.5 },
        { id: "Floor-A_1_2", section: "Floor A", row: "1", number: 2, price: 45.5 },
        { id: "Balcony_B_1", section: "Balcony", row: "B", number: 1, price: 30 },
      ],
    });
    // …which POST /api/events takes as they are.
    const created = await use.w.app.inject({
      method: "POST",
      url: "/api/events",
      headers: auth(admin),
      payload: { name: "From CSV", description: "", location: "Hall", start_time: "2030-01-01T19:00:00Z", end_time: "2030-01-01T22:00:00Z", seats: r.json().seats },
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().seat_count).toBe(3);
  });

  it("names every bad line and column, and nothing is stored", async () => {
    const admin = (await createUser(use.w.env, "admin")).token;
    const events0 = await eventCount();
    const seats0 = (await use.w.env.db.db.select({ n: count() }).from(seatsTable))[0]!.n;
    const r = await csv(admin, "id,section,row,number,price\nA_1,Floor,A,1,45\nA_2,Floor,A,two,45\nA_3,Floor,A,3,45.505\nA_1,Floor,A,4,10\nA 5,Floor,A,5,10\n");
    expect(r.statusCode).toBe(422);
    expect(r.json().error).toBe("validation_failed");
    expect(r.json().errors).toEqual([
      { field: "line 3, number", message: 'must be a whole number, not "two"' },
      { field: "line 4, price", message: 'must be a price like 45 or 45.50 (at most 2 decimals), not "45.505"' },
      { field: "line 5, id", message: "duplicate seat id A_1 (first on line 2)" },
      { field: "line 6, id", message: '"A 5" is not a seat id (1–64 of A–Z a–z 0–9 _ . : -)' },
    ]);
    expect((await csv(admin, "seat,cost\n1,2\n")).json().errors.map((e: { message: string }) => e.message)).toEqual([
      'unknown column "seat"; the columns are section, row, number, price, id',
      'unknown column "cost"; the columns are section, row, number, price, id',
      "a price column is required",
      "give an id column, or row and number columns to make the ids from",
    ]);
    const ragged = await csv(admin, "row,number,price\n1,1,10\n1,2\n");
    expect(ragged.statusCode).toBe(422);
    expect(ragged.json().errors[0].field).toBe("line 3");
    expect((await csv(admin, "row,number,price\n")).json().errors).toEqual([{ field: "csv", message: expect.stringMatching(/^no seats/) }]);
    expect(await eventCount()).toBe(events0);
    expect((await use.w.env.db.db.select({ n: count() }).from(seatsTable))[0]!.n).toBe(seats0);
  });

  it("is for admins", async () => {
    const buyer = await createUser(use.w.env);
    expect((await use.w.app.inject({ method: "POST", url: "/api/seat_maps/csv", headers: { "content-type": "text/csv" }, payload: "id,price\nA,1\n" })).statusCode).toBe(401);
    expect((await csv(buyer.token, "id,price\nA,1\n")).statusCode).toBe(403);
  });
});

describe("POST /api/ops/alerts (Alertmanager's webhook)", () => {
  const alert = (name: string, severity: string, status = "firing") => ({
    status,
    fingerprint: `fp-${name}`,
    labels: { alertname: name, severity, instance: "ws-1:4000" },
    annotations: { summary: `${name} happened`, runbook_url: `docs/runbooks.md#${name.toLowerCase()}` },
    startsAt: "2026-12-05T06:00:00Z",
  });
  const post = (body: unknown, token?: string) => use.w.app.inject({ method: "POST", url: "/api/ops/alerts", headers: token ? auth(token) : {}, payload: body as Record<string, unknown> });
  const firing = async () => {
    const admin = await createUser(use.w.env, "admin");
    return (await use.w.app.inject({ method: "GET", url: "/api/ops/status", headers: auth(admin.token) })).json().alerts as { name: string; severity: string; runbook_url: string }[];
  };

  it("keeps what fires for the ops page, critical first with its runbook, and forgets what resolved", async () => {
    const token = use.w.env.config.METRICS_TOKEN;
    expect((await post({ version: "4", status: "firing", alerts: [alert("QueueBacklog", "warning"), alert("RedisDown", "critical")] }, token)).json()).toEqual({ firing: 2, resolved: 0 });
    expect(await firing()).toEqual([
      expect.objectContaining({ name: "RedisDown", severity: "critical", summary: "RedisDown happened", runbook_url: "docs/runbooks.md#redisdown", instance: "ws-1:4000" }),
      expect.objectContaining({ name: "QueueBacklog", severity: "warning" }),
    ]);
    expect((await post({ alerts: [alert("RedisDown", "critical", "resolved")] }, token)).json()).toEqual({ firing: 0, resolved: 1 });
    expect((await firing()).map((a) => a.name)).toEqual(["QueueBacklog"]);
    await post({ alerts: [alert("QueueBacklog", "warning", "resolved")] }, token);
    expect(await firing()).toEqual([]);
  });

  it("needs the metrics token, and names a malformed alert's field", async () => {
    expect((await post({ alerts: [alert("AppDown", "critical")] })).statusCode).toBe(401);
    expect((await post({ alerts: [alert("AppDown", "critical")] }, "not-the-token")).statusCode).toBe(401);
    const bad = await post({ alerts: [{ status: "firing", labels: {}, annotations: {}, startsAt: "x" }] }, use.w.env.config.METRICS_TOKEN);
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors[0].field).toContain("fingerprint");
    expect(await firing()).toEqual([]);
  });
});
