import { beforeAll, describe, expect, it } from "vitest";
import { and, eq } from "drizzle-orm";
import { createTokenSigner } from "@seatdrop/auth";
import { events, seatAudit, users } from "@seatdrop/db";
import { createEvent, createUser, eventually, push, seatIdsGrid } from "../../../test/support/cluster.ts";
import { auth, useOrdersWorld, type OrdersWorld } from "./orders-harness.ts";

/**
 * The ops console's controls against the API and two real ws-nodes with the stock Phoenix client:
 * a freeze refuses locks on both nodes at once and orders too, a reopen allows them again, an
 * admin's release of one hold reaches its owner as `deleted`; only admins may do any of it, and
 * each is in the audit trail with who did it.
 */
let w: OrdersWorld;
const world = useOrdersWorld();
beforeAll(() => {
  w = world.w;
});
const { client } = world;

const post = (url: string, token: string) => w.app.inject({ method: "POST", url, headers: auth(token) });
const auditRows = (eventId: string, action: string) =>
  w.env.db.db.select().from(seatAudit).where(and(eq(seatAudit.eventId, eventId), eq(seatAudit.action, action)));

describe("who is an admin: the user's row, not only the token", () => {
  it("a token signed with the cluster's secret that claims admin for a plain user is refused 403; an admin demoted in PostgreSQL is refused at once", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 2));
    const plain = await createUser(w.env);
    const forged = await createTokenSigner(w.env.config).sign({ sub: plain.id, role: "admin" });
    const refused = await post(`/api/ops/events/${eventId}/freeze`, forged);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ error: "forbidden" });
    // Nor may it act on another user's account as admins may.
    const other = await createUser(w.env);
    expect((await w.app.inject({ method: "GET", url: `/api/users/${other.id}`, headers: auth(forged) })).statusCode).toBe(403);
    const [row] = await w.env.db.db.select({ at: events.salesPausedAt }).from(events).where(eq(events.id, eventId));
    expect(row!.at).toBeNull();

    const admin = await createUser(w.env, "admin");
    expect((await post(`/api/ops/events/${eventId}/freeze`, admin.token)).statusCode).toBe(200);
    await w.env.db.db.update(users).set({ role: "user" }).where(eq(users.id, admin.id));
    expect((await post(`/api/ops/events/${eventId}/reopen`, admin.token)).statusCode).toBe(403);
  });
});

describe("freeze and reopen an event's sales", () => {
  it("refuses locks on both nodes and orders with sales_paused while frozen, keeps holds, and allows them again when reopened", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 6));
    const admin = await createUser(w.env, "admin");
    const [a, b] = [await createUser(w.env), await createUser(w.env)];
    const ja = await client(0, a.token).join(`seats:${eventId}`);
    const jb = await client(1, b.token).join(`seats:${eventId}`);
    expect((await push(ja.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    const holdBefore = await w.cluster.seats.holds.holdOf(eventId, a.id);

    const frozen = await post(`/api/ops/events/${eventId}/freeze`, admin.token);
    expect(frozen.statusCode).toBe(200);
    expect(frozen.json()).toMatchObject({ event_id: eventId, sales_paused: true });
    // No wait: the next lock on either node is refused, since the scripts read the flag.
    for (const [j, seat] of [[ja, "A_2"], [jb, "A_3"]] as const) {
      const r = await push(j.channel, "lock", { seat });
      expect(r.status, seat).toBe("error");
      expect(r.response).toMatchObject({ reason: "sales_paused" });
    }
    const order = await w.app.inject({ method: "POST", url: "/api/orders", headers: auth(a.token), payload: { event_id: eventId } });
    expect(order.statusCode).toBe(409);
    expect(order.json()).toMatchObject({ error: "sales_paused" });
    // The hold is kept, deadline unchanged.
    expect(await w.cluster.seats.holds.holdOf(eventId, a.id)).toEqual(holdBefore);
    const [row] = await w.env.db.db.select({ at: events.salesPausedAt }).from(events).where(eq(events.id, eventId));
    expect(row!.at).not.toBeNull();

    const reopened = await post(`/api/ops/events/${eventId}/reopen`, admin.token);
    expect(reopened.json()).toMatchObject({ event_id: eventId, sales_paused: false, sales_paused_at: null });
    expect((await push(jb.channel, "lock", { seat: "A_3" })).status).toBe("ok");
    const ordered = await w.app.inject({ method: "POST", url: "/api/orders", headers: auth(a.token), payload: { event_id: eventId } });
    expect(ordered.statusCode).toBe(201);

    const frozenRows = await auditRows(eventId, "sales_frozen");
    const reopenedRows = await auditRows(eventId, "sales_reopened");
    expect(frozenRows.map((r) => r.actor)).toEqual([`user:${admin.id}`]);
    expect(reopenedRows.map((r) => r.actor)).toEqual([`user:${admin.id}`]);
  });

  it("keeps the freeze when Redis loses the event (reloaded from PostgreSQL)", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 2));
    const admin = await createUser(w.env, "admin");
    const a = await createUser(w.env);
    expect((await post(`/api/ops/events/${eventId}/freeze`, admin.token)).statusCode).toBe(200);
    // Redis loses the event's meta hash: the next lock reloads it from PostgreSQL, freeze included.
    await w.env.redis.del(w.env.keys.event(eventId).meta);
    await expect(w.cluster.seats.lock({ eventId, userId: a.id, seatId: "A_1" })).rejects.toMatchObject({ reason: "sales_paused" });
  });

  it("is admin only, and 404 for an unknown event", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 2));
    const buyer = await createUser(w.env);
    for (const url of [`/api/ops/events/${eventId}/freeze`, `/api/ops/events/${eventId}/reopen`, `/api/ops/events/${eventId}/holds/${buyer.id}/release`]) {
      expect((await post(url, buyer.token)).statusCode, url).toBe(403);
      expect((await w.app.inject({ method: "POST", url })).statusCode, url).toBe(401);
    }
    expect((await post(`/api/ops/events/${eventId}/freeze`, (await createUser(w.env, "service")).token)).statusCode).toBe(403);
    const admin = await createUser(w.env, "admin");
    expect((await post(`/api/ops/events/00000000-0000-4000-8000-000000000000/freeze`, admin.token)).statusCode).toBe(404);
    // Nothing was frozen by the refused calls.
    expect((await push((await client(0, buyer.token).join(`seats:${eventId}`)).channel, "lock", { seat: "A_1" })).status).toBe("ok");
  });
});

describe("release one user's hold", () => {
  it("releases every seat, the owner hears deleted with released_by_admin, watchers see unlocked; audited with who", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 4));
    const admin = await createUser(w.env, "admin");
    const owner = await createUser(w.env);
    const jo = await client(0, owner.token).join(`seats:${eventId}`);
    const watcher = await client(1).join(`seats:${eventId}`);
    for (const seat of ["A_1", "A_2"]) expect((await push(jo.channel, "lock", { seat })).status).toBe("ok");

    const r = await post(`/api/ops/events/${eventId}/holds/${owner.id}/release`, admin.token);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ event_id: eventId, user_id: owner.id, reason: "released_by_admin", seats: ["A_1", "A_2"] });

    const deleted = await eventually(() => jo.log.find((m) => m.event === "deleted"), 5000, "deleted on the owner");
    expect(deleted.payload).toMatchObject({ seats: ["A_1", "A_2"], reason: "released_by_admin" });
    await eventually(() => watcher.log.filter((m) => m.event === "unlocked").length === 2, 5000, "unlocked on the watcher");
    expect(watcher.log.filter((m) => m.event === "unlocked").map((m) => m.payload.reason)).toEqual(["released_by_admin", "released_by_admin"]);
    expect(await w.cluster.seats.holds.holdOf(eventId, owner.id)).toBeNull();

    const rows = await auditRows(eventId, "hold_released_by_admin");
    expect(rows.map((x) => [x.seatId, x.actor, x.detail]).sort()).toEqual([
      ["A_1", `user:${admin.id}`, { user_id: owner.id }],
      ["A_2", `user:${admin.id}`, { user_id: owner.id }],
    ]);
    // Nothing left to release.
    expect((await post(`/api/ops/events/${eventId}/holds/${owner.id}/release`, admin.token)).statusCode).toBe(404);
  });
});
