import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PhxClient, createUser, push } from "../../../test/support/cluster.ts";
import { auth, startOrdersWorld, type OrdersWorld } from "./orders-harness.ts";

let w: OrdersWorld;
const clients: PhxClient[] = [];
beforeAll(async () => {
  w = await startOrdersWorld();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.disconnect()));
  await w.close();
});

async function createEventViaApi(extra: Record<string, unknown>) {
  const admin = await createUser(w.env, "admin");
  const res = await w.app.inject({
    method: "POST",
    url: "/api/events",
    headers: auth(admin.token),
    payload: {
      name: "Rules",
      description: "box office rules",
      location: "Hall",
      start_time: "2031-01-01T19:00:00Z",
      end_time: "2031-01-01T22:00:00Z",
      seats: ["A_1", "A_2", "A_3", "A_4"].map((id) => ({ id, price: 10 })),
      ...extra,
    },
  });
  return res;
}

describe("box office rules", () => {
  it("refuses locks and orders outside the sales window with a clear reason", async () => {
    const soon = await createEventViaApi({ sales_open_at: new Date(Date.now() + 3_600_000).toISOString() });
    expect(soon.statusCode).toBe(201);
    expect(soon.json().sales_open_at).not.toBeNull();
    const closed = await createEventViaApi({ sales_open_at: "2020-01-01T00:00:00Z", sales_close_at: "2020-02-01T00:00:00Z" });
    const u = await createUser(w.env);
    const c = new PhxClient(w.cluster.nodes[0]!.port, u.token);
    clients.push(c);
    const a = await c.join(`seats:${soon.json().id}`);
    expect(await push(a.channel, "lock", { seat: "A_1" })).toMatchObject({ status: "error", response: { reason: "sales_not_open" } });
    const b = await c.join(`seats:${closed.json().id}`);
    expect(await push(b.channel, "lock", { seat: "A_1" })).toMatchObject({ status: "error", response: { reason: "sales_closed" } });
    const order = await w.app.inject({ method: "POST", url: "/api/orders", headers: auth(u.token), payload: { event_id: closed.json().id } });
    expect(order.statusCode).toBe(409);
    expect(order.json().error).toBe("sales_closed");
    const bad = await createEventViaApi({ sales_open_at: "2031-01-02T00:00:00Z", sales_close_at: "2031-01-01T00:00:00Z" });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors[0].field).toBe("sales_close_at");
  });

  it("limits the seats one user has across holds and orders", async () => {
    const ev = (await createEventViaApi({ max_seats_per_user: 2 })).json();
    const u = await createUser(w.env);
    const c = new PhxClient(w.cluster.nodes[1]!.port, u.token);
    clients.push(c);
    const j = await c.join(`seats:${ev.id}`);
    expect((await push(j.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    expect((await push(j.channel, "lock", { seat: "A_2" })).status).toBe("ok");
    expect(await push(j.channel, "lock", { seat: "A_3" })).toMatchObject({ status: "error", response: { reason: "user_limit" } });
    // Seats moved into an order still count.
    expect((await w.app.inject({ method: "POST", url: "/api/orders", headers: auth(u.token), payload: { event_id: ev.id } })).statusCode).toBe(201);
    expect(await push(j.channel, "lock", { seat: "A_3" })).toMatchObject({ status: "error", response: { reason: "user_limit" } });
  });
});
