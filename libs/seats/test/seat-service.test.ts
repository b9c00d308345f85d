import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { SeatError, SeatService } from "@seatdrop/seats";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

let env: TestEnv;
let seats: SeatService;
const EVENT = "11111111-1111-4111-8111-111111111111";
const settings = { holdTtlMs: 60_000, holdMaxSeats: 3, holdGraceMs: 1000, holdMaxExtensions: 1 };

beforeAll(async () => {
  env = await createTestEnv();
  seats = new SeatService({ redis: env.redis, keys: env.keys, config: env.config, logger: createLogger("test", "silent") });
  await seats.events.loadEvent(EVENT, settings, ["A_1", "A_2", "A_3", "A_4", "A_10"]);
});
afterAll(() => env.close());

const reason = (p: Promise<unknown>) => p.then(() => "ok", (e: SeatError) => e.reason);

describe("seat scripts", () => {
  it("locks, refuses a second locker, unlocks, and numbers every transition", async () => {
    const a = await seats.lock({ eventId: EVENT, userId: "u1", seatId: "A_1" });
    expect(a.newHold).toBe(true);
    expect(await reason(seats.lock({ eventId: EVENT, userId: "u2", seatId: "A_1" }))).toBe("already_locked");
    expect(await reason(seats.lock({ eventId: EVENT, userId: "u1", seatId: "A_1" }))).toBe("already_locked");
    expect(await reason(seats.unlock({ eventId: EVENT, userId: "u2", seatId: "A_1" }))).toBe("not_yours");
    expect(await reason(seats.unlock({ eventId: EVENT, userId: "u2", seatId: "A_2" }))).toBe("already_unlocked");
    expect(await reason(seats.lock({ eventId: EVENT, userId: "u1", seatId: "Z_9" }))).toBe("unknown_seat");
    expect(await reason(seats.lock({ eventId: "22222222-2222-4222-8222-222222222222", userId: "u1", seatId: "A_1" }))).toBe("unknown_event");
    const u = await seats.unlock({ eventId: EVENT, userId: "u1", seatId: "A_1" });
    expect(u.seq).toBe(a.seq + 1);
    expect(u.seatsLeft).toBe(0);
    const log = await seats.readLog(EVENT, a.seq);
    expect(log?.map((e) => [e.t, e.seat, e.seq])).toEqual([
      ["locked", "A_1", a.seq],
      ["unlocked", "A_1", a.seq + 1],
    ]);
  });

  it("enforces the seat limit per hold and shows the hold in the snapshot", async () => {
    // Its own event: the first test locks and unlocks EVENT's A_1, and tests may run in any order.
    const EVENT = "11111111-1111-4111-8111-222222222222";
    await seats.events.loadEvent(EVENT, settings, ["A_1", "A_2", "A_3", "A_4", "A_10"]);
    await seats.lock({ eventId: EVENT, userId: "u3", seatId: "A_1" });
    await seats.lock({ eventId: EVENT, userId: "u3", seatId: "A_2" });
    await seats.lock({ eventId: EVENT, userId: "u3", seatId: "A_3" });
    expect(await reason(seats.lock({ eventId: EVENT, userId: "u3", seatId: "A_4" }))).toBe("hold_limit");
    const snap = await seats.snapshot({ eventId: EVENT, userId: "u3" });
    expect(snap.hold?.seats).toEqual(["A_1", "A_2", "A_3"]);
    expect(snap.taken.get("A_2")).toEqual({ state: "locked", userId: "u3" });
    expect(await seats.extend({ eventId: EVENT, userId: "u3" })).toMatchObject({ extensionsLeft: 0 });
    expect(await reason(seats.extend({ eventId: EVENT, userId: "u3" }))).toBe("extend_limit");
    expect(await reason(seats.extend({ eventId: EVENT, userId: "nobody" }))).toBe("no_hold");
  });

  it("backend transitions take a seat out of its hold and refuse impossible ones", async () => {
    // Its own event and hold: this test must not lean on what an earlier one left behind.
    const E3 = "44444444-4444-4444-8444-444444444444";
    await seats.events.loadEvent(E3, settings, ["A_1", "A_2", "A_3"]);
    for (const seatId of ["A_1", "A_2", "A_3"]) await seats.lock({ eventId: E3, userId: "u3", seatId });
    await seats.setSeatState({ eventId: E3, seatId: "A_1", action: "reserve" });
    expect(await reason(seats.lock({ eventId: E3, userId: "u4", seatId: "A_1" }))).toBe("seat_unavailable");
    expect(await reason(seats.setSeatState({ eventId: E3, seatId: "A_1", action: "reserve" }))).toBe("already_reserved");
    expect((await seats.setSeatState({ eventId: E3, seatId: "A_1", action: "pay" })).type).toBe("paid");
    expect((await seats.setSeatState({ eventId: E3, seatId: "A_1", action: "revoke" })).type).toBe("unpaid");
    expect(await reason(seats.setSeatState({ eventId: E3, seatId: "A_1", action: "unreserve" }))).toBe("not_reserved");
    const snap = await seats.snapshot({ eventId: E3, userId: "u3" });
    expect(snap.hold?.seats).toEqual(["A_2", "A_3"]);
  });

  it("treats a hold past its deadline as gone even when no job ran", async () => {
    const E2 = "33333333-3333-4333-8333-333333333333";
    await seats.events.loadEvent(E2, { ...settings, holdTtlMs: 150 }, ["B_1"]);
    await seats.lock({ eventId: E2, userId: "late", seatId: "B_1" });
    await new Promise((r) => setTimeout(r, 250));
    // No expiry job exists here: the lock script itself must see the dead hold and let the seat go.
    const next = await seats.lock({ eventId: E2, userId: "fresh", seatId: "B_1" });
    const log = await seats.readLog(E2, 1);
    expect(log?.map((e) => [e.t, e.u, e.why ?? null])).toEqual([
      ["locked", "late", null],
      ["unlocked", "late", "expired"],
      ["locked", "fresh", null],
    ]);
    expect(next.seq).toBe(3);
  });

  it("releases an abandoned hold only after the grace, and not while the user is live", async () => {
    const E3 = "44444444-4444-4444-8444-444444444444";
    await seats.events.loadEvent(E3, { ...settings, holdGraceMs: 200 }, ["C_1"]);
    await seats.lock({ eventId: E3, userId: "w", seatId: "C_1" });
    await seats.holds.markLive(E3, "node-a", ["w"], 5000);
    expect((await seats.holds.releaseHold({ eventId: E3, userId: "w", mode: "abandoned" })).released).toBe(0);
    await seats.holds.markGone(E3, "node-a", "w");
    expect((await seats.holds.releaseHold({ eventId: E3, userId: "w", mode: "abandoned" })).released).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(await seats.holds.releaseHold({ eventId: E3, userId: "w", mode: "abandoned" })).toEqual({ released: 1, reason: "abandoned" });
  });

  it("a hold left past its deadline is still released whole by the sweep, after its lock keys' safety net fired", async () => {
    const E4 = "55555555-5555-4555-8555-555555555555";
    await seats.events.loadEvent(E4, { ...settings, holdTtlMs: 100 }, ["D_1", "D_2"]);
    await seats.lock({ eventId: E4, userId: "gone", seatId: "D_1" });
    await seats.lock({ eventId: E4, userId: "gone", seatId: "D_2" });
    await new Promise((r) => setTimeout(r, 5400)); // deadline + the 5 s PX safety net of the lock keys
    expect((await seats.holds.sweep(E4)).released).toBe(1);
    const log = await seats.readLog(E4, 3);
    expect(log?.map((e) => [e.t, e.seat, e.why])).toEqual([
      ["unlocked", "D_1", "expired"],
      ["unlocked", "D_2", "expired"],
    ]);
    expect((await seats.snapshot({ eventId: E4 })).taken.size).toBe(0);
  }, 15_000);

  it("a snapshot never shows a lock whose hold is gone, and tells everyone it was unlocked", async () => {
    const E5 = "66666666-6666-4666-8666-666666666666";
    await seats.events.loadEvent(E5, settings, ["F_1"]);
    await seats.lock({ eventId: E5, userId: "lost", seatId: "F_1" });
    const k = env.keys.event(E5);
    await env.redis.hdel(k.holdInfo, "lost"); // the hold vanished (manual edit, old data)
    const snap = await seats.snapshot({ eventId: E5 });
    expect(snap.taken.size).toBe(0);
    expect((await seats.readLog(E5, 2))?.map((e) => [e.t, e.seat])).toEqual([["unlocked", "F_1"]]);
  });

  it("a rebuild keeps the legacy dialect's service sales and orders still being written, and drops orders that never reached PostgreSQL", async () => {
    const E6 = "77777777-7777-4777-8777-777777777777";
    await seats.events.loadEvent(E6, settings, ["G_1", "G_2", "G_3", "G_4"]);
    await seats.setSeatState({ eventId: E6, seatId: "G_1", action: "pay" }); // seed backend: Redis only
    await seats.lock({ eventId: E6, userId: "buyer", seatId: "G_2" });
    await seats.reserveHold({ eventId: E6, userId: "buyer", orderId: "inflight-order" }); // PostgreSQL not written yet
    await seats.lock({ eventId: E6, userId: "ghost", seatId: "G_3" });
    await seats.reserveHold({ eventId: E6, userId: "ghost", orderId: "crashed-order", pendingMs: 50 }); // the API died
    await new Promise((r) => setTimeout(r, 120));
    // PostgreSQL knows one live order, for G_4.
    const changes = await seats.events.rebuildState(E6, [{ seatId: "G_4", orderId: "real-order", userId: "payer", paid: true }]);
    const snap = await seats.snapshot({ eventId: E6 });
    expect(Object.fromEntries([...snap.taken].map(([k, v]) => [k, `${v.state}:${v.orderId ?? ""}`]))).toEqual({
      G_1: "paid:svc",
      G_2: "reserved:inflight-order",
      G_4: "paid:real-order",
    });
    expect(changes).toBe(2); // G_3 released, G_4 paid
  });

  it("a rebuild that read PostgreSQL before an order gave its seats back, or was paid, does not undo that", async () => {
    const E7 = "88888888-8888-4888-8888-888888888888";
    await seats.events.loadEvent(E7, settings, ["H_1", "H_2"]);
    await seats.lock({ eventId: E7, userId: "first", seatId: "H_1" });
    await seats.lock({ eventId: E7, userId: "first", seatId: "H_2" });
    await seats.reserveHold({ eventId: E7, userId: "first", orderId: "order-a" });
    const staleRead = [
      { seatId: "H_1", orderId: "order-a", userId: "first", paid: false },
      { seatId: "H_2", orderId: "order-a", userId: "first", paid: false },
    ];
    // After the read: order-a is canceled (H_1 back, someone else locks it)... 
    await seats.setSeatState({ eventId: E7, seatId: "H_1", action: "unreserve", orderId: "order-a" });
    await seats.lock({ eventId: E7, userId: "second", seatId: "H_1" });
    // ...or, for the other seat, paid.
    await seats.setSeatState({ eventId: E7, seatId: "H_2", action: "pay", orderId: "order-a", userId: "first" });
    expect(await seats.events.rebuildState(E7, staleRead.slice(0, 1))).toBe(0);
    const E8 = "99999999-9999-4999-8999-999999999999";
    await seats.events.loadEvent(E8, settings, ["J_1"]);
    await seats.lock({ eventId: E8, userId: "buyer", seatId: "J_1" });
    await seats.reserveHold({ eventId: E8, userId: "buyer", orderId: "order-b" });
    await seats.setSeatState({ eventId: E8, seatId: "J_1", action: "pay", orderId: "order-b", userId: "buyer" });
    expect(await seats.events.rebuildState(E8, [{ seatId: "J_1", orderId: "order-b", userId: "buyer", paid: false }])).toBe(0);
    const snap7 = await seats.snapshot({ eventId: E7 });
    expect(snap7.taken.get("H_1")).toMatchObject({ state: "locked", userId: "second" });
    expect((await seats.snapshot({ eventId: E8 })).taken.get("J_1")).toMatchObject({ state: "paid", orderId: "order-b" });
  });
});
