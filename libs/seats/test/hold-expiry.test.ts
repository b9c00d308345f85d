import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { SeatError, SeatService } from "@seatdrop/seats";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

/**
 * Hold expiry without a job per hold and the re-lock cool-down (docs/reliability.md, round one,
 * finding 5: holds farmed), at the seat service against the real Redis. The worker and the nodes
 * that drive the sweep have their own tests (apps/worker/test/hold-expiry.test.ts,
 * apps/ws-node/test/hold-node-sweep.test.ts).
 */
let env: TestEnv;
let seats: SeatService;
const COOL_MS = 600;
const settings = { holdTtlMs: 60_000, holdMaxSeats: 5, holdGraceMs: 30_000, holdMaxExtensions: 1 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const reason = (p: Promise<unknown>) => p.then(() => "ok", (e: SeatError) => e.reason);

beforeAll(async () => {
  env = await createTestEnv({ HOLD_RELOCK_COOLDOWN_MS: String(COOL_MS) });
  seats = new SeatService({ redis: env.redis, keys: env.keys, config: env.config, logger: createLogger("test", "silent") });
});
afterAll(() => env.close());

let n = 0;
async function newEvent(over: Partial<typeof settings>, seatIds: string[]): Promise<string> {
  const id = `aaaaaaaa-0000-4000-8000-${String(++n).padStart(12, "0")}`;
  await seats.events.loadEvent(id, { ...settings, ...over }, seatIds);
  return id;
}

describe("the deadline index", () => {
  it("a new hold that is the event's earliest puts the event in the cluster-wide index; a later one leaves the entry alone", async () => {
    const E = await newEvent({}, ["A_1", "A_2"]);
    const first = await seats.lock({ eventId: E, userId: "u1", seatId: "A_1" });
    expect(Number(await env.redis.zscore(env.keys.holdEvents, E))).toBe(first.deadline);
    await sleep(5);
    const second = await seats.lock({ eventId: E, userId: "u2", seatId: "A_2" });
    expect(second.deadline).toBeGreaterThan(first.deadline);
    expect(Number(await env.redis.zscore(env.keys.holdEvents, E))).toBe(first.deadline);
  });

  it("a hold released early leaves no trace in the event's index, and the event's entry goes at the next sweep", async () => {
    const E = await newEvent({ holdTtlMs: 300 }, ["B_1"]);
    await seats.lock({ eventId: E, userId: "early", seatId: "B_1" });
    await seats.unlock({ eventId: E, userId: "early", seatId: "B_1" });
    const k = env.keys.event(E);
    expect(await env.redis.zcard(k.holds)).toBe(0);
    expect(await env.redis.hexists(k.holdInfo, "early")).toBe(0);
    await sleep(350);
    // Other tests' events share this index (and may have holds due), so what this event released is
    // read from its own sequence, not from sweepDue's total.
    const seq = await seats.currentSeq(E);
    await seats.holds.sweepDue();
    expect(await seats.currentSeq(E)).toBe(seq);
    expect(await env.redis.zscore(env.keys.holdEvents, E)).toBeNull();
    // A seat let go is cooled down for whoever let it go (docs/reliability.md, round two, finding 4:
    // otherwise unlock and re-lock renew a hold for ever); anyone else may take it at once.
    expect(await reason(seats.lock({ eventId: E, userId: "early", seatId: "B_1" }))).toBe("relock_cooldown");
    expect(await reason(seats.lock({ eventId: E, userId: "other", seatId: "B_1" }))).toBe("ok");
  });

  it("sweepDue releases every due hold in slices, keeps later ones, and moves the event's entry to the next deadline", async () => {
    const ids = Array.from({ length: 1200 }, (_, i) => `C_${i + 1}`);
    const E = await newEvent({ holdTtlMs: 300 }, [...ids, "LATE"]);
    for (let i = 0; i < ids.length; i += 100) await Promise.all(ids.slice(i, i + 100).map((seatId, j) => seats.lock({ eventId: E, userId: `user-${i + j}`, seatId })));
    await env.redis.hset(env.keys.event(E).meta, "ttl", 60_000);
    const late = await seats.lock({ eventId: E, userId: "late", seatId: "LATE" });
    await sleep(350);
    const r = await seats.holds.sweepDue();
    expect(r.released).toBeGreaterThanOrEqual(1200);
    const k = env.keys.event(E);
    // Read without any script (a script would release on read): only the late hold is left.
    expect(await env.redis.hkeys(k.state)).toEqual(["LATE"]);
    expect(await env.redis.zrange(k.holds, 0, -1)).toEqual(["late"]);
    expect(Number(await env.redis.zscore(env.keys.holdEvents, E))).toBe(late.deadline);
    const log = await seats.readLog(E, 1202);
    expect(log?.length).toBe(1200);
    expect(new Set(log?.map((e) => `${e.t}:${e.why}`))).toEqual(new Set(["unlocked:expired"]));
  });

  it("a hold created while its event was being swept is not lost from the index", async () => {
    const E = await newEvent({ holdTtlMs: 200 }, ["D_1", "D_2"]);
    await seats.lock({ eventId: E, userId: "old", seatId: "D_1" });
    await sleep(250);
    // The sweep ran (the event had no hold left) but its index write comes after a new lock's.
    await seats.holds.sweep(E);
    const fresh = await seats.lock({ eventId: E, userId: "new", seatId: "D_2" });
    await env.redis.zrem(env.keys.holdEvents, E); // the sweeper's "no hold left" write, landing late
    await seats.holds.reindex(E); // what the sweeper does right after it
    expect(Number(await env.redis.zscore(env.keys.holdEvents, E))).toBe(fresh.deadline);
  });
});

describe("abandoned holds", () => {
  it("a hold no node vouches for any more is released as abandoned a grace after the last window; a vouched one is kept", async () => {
    const E = await newEvent({ holdGraceMs: 200 }, ["F_1", "F_2"]);
    await seats.lock({ eventId: E, userId: "crashed", seatId: "F_1" });
    await seats.lock({ eventId: E, userId: "here", seatId: "F_2" });
    await seats.holds.markLive(E, "dead-node", ["crashed"], 300); // its node dies: never refreshed, never says "gone"
    await seats.holds.markLive(E, "live-node", ["here"], 60_000);
    expect(await seats.holds.releaseAbandoned(E)).toBe(0);
    await sleep(550);
    expect(await seats.holds.releaseAbandoned(E)).toBe(1);
    expect(await env.redis.hgetall(env.keys.event(E).state)).toEqual({ F_2: "L|here" });
    expect((await seats.readLog(E, 3))?.map((e) => [e.t, e.seat, e.why])).toEqual([["unlocked", "F_1", "abandoned"]]);
  });
});

describe("the re-lock cool-down", () => {
  it("after a hold expires its user may not re-lock its seats until the cool-down ends; others may at once", async () => {
    const E = await newEvent({ holdTtlMs: 150 }, ["G_1", "G_2", "G_3"]);
    await seats.lock({ eventId: E, userId: "farmer", seatId: "G_1" });
    await seats.lock({ eventId: E, userId: "farmer", seatId: "G_2" });
    await sleep(200);
    const refused = await seats.lock({ eventId: E, userId: "farmer", seatId: "G_1" }).catch((e: SeatError) => e);
    expect(refused).toBeInstanceOf(SeatError);
    expect(refused).toMatchObject({ reason: "relock_cooldown", seat: "G_1" });
    const wait = (refused as SeatError).retryAfterMs!;
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(COOL_MS);
    expect(await reason(seats.lock({ eventId: E, userId: "farmer", seatId: "G_3" }))).toBe("ok"); // another seat: fine
    expect(await reason(seats.lock({ eventId: E, userId: "other", seatId: "G_2" }))).toBe("ok"); // another user: fine
    await sleep(wait + 20);
    expect(await reason(seats.lock({ eventId: E, userId: "farmer", seatId: "G_1" }))).toBe("ok");
  });

  it("an abandoned hold starts the cool-down too", async () => {
    const E = await newEvent({ holdGraceMs: 50 }, ["H_1"]);
    await seats.lock({ eventId: E, userId: "leaver", seatId: "H_1" });
    await seats.holds.markGone(E, "node-a", "leaver");
    await sleep(100);
    expect(await seats.holds.releaseHold({ eventId: E, userId: "leaver", mode: "abandoned" })).toEqual({ released: 1, reason: "abandoned" });
    expect(await reason(seats.lock({ eventId: E, userId: "leaver", seatId: "H_1" }))).toBe("relock_cooldown");
  });
});

describe("holds that cannot be farmed", () => {
  it("a seat let go is cooled down for the user who let it go; another user's lock and unlock of it do not erase that", async () => {
    const E = await newEvent({}, ["J_1"]);
    await seats.lock({ eventId: E, userId: "a", seatId: "J_1" });
    await seats.unlock({ eventId: E, userId: "a", seatId: "J_1" });
    expect(await reason(seats.lock({ eventId: E, userId: "a", seatId: "J_1" }))).toBe("relock_cooldown");
    // Handed back and forth: b takes it and lets it go; a is still cooling down (its own key).
    expect(await reason(seats.lock({ eventId: E, userId: "b", seatId: "J_1" }))).toBe("ok");
    await seats.unlock({ eventId: E, userId: "b", seatId: "J_1" });
    expect(await reason(seats.lock({ eventId: E, userId: "a", seatId: "J_1" }))).toBe("relock_cooldown");
    expect(await reason(seats.lock({ eventId: E, userId: "b", seatId: "J_1" }))).toBe("relock_cooldown");
    expect(await reason(seats.lock({ eventId: E, userId: "c", seatId: "J_1" }))).toBe("ok");
  });

  it("a user's holding time on an event is bounded by the TTL and its extensions, whatever they unlock and re-lock", async () => {
    // TTL 1 s, no extension: a budget of 1 s from the user's first hold, kept past an emptied hold.
    const E = await newEvent({ holdTtlMs: 1000, holdMaxExtensions: 0 }, ["K_1", "K_2", "K_3", "K_4"]);
    const first = await seats.lock({ eventId: E, userId: "farmer", seatId: "K_1" });
    await seats.unlock({ eventId: E, userId: "farmer", seatId: "K_1" });
    await sleep(300);
    // A new hold 300 ms later ends where the first would have, not 1 s from now.
    const second = await seats.lock({ eventId: E, userId: "farmer", seatId: "K_2" });
    expect(second.newHold).toBe(true);
    expect(second.deadline).toBe(first.deadline);
    await seats.unlock({ eventId: E, userId: "farmer", seatId: "K_2" });
    await sleep(800);
    // The budget is spent: no new hold until it runs out (another TTL later).
    const refused = await seats.lock({ eventId: E, userId: "farmer", seatId: "K_3" }).catch((e: SeatError) => e);
    expect(refused).toMatchObject({ reason: "hold_budget", seat: "K_3" });
    expect((refused as SeatError).retryAfterMs).toBeGreaterThan(0);
    expect(await reason(seats.lock({ eventId: E, userId: "someone-else", seatId: "K_3" }))).toBe("ok");
    await sleep((refused as SeatError).retryAfterMs! + 20);
    expect(await reason(seats.lock({ eventId: E, userId: "farmer", seatId: "K_4" }))).toBe("ok");
  });
});

describe("the event's dated entries", () => {
  it("the sweep's housekeeping removes lapsed cool-downs, budgets, order markers and vouches, and keeps live ones", async () => {
    // ttl 200, 1 extension: a budget lapses 200 × (2 + 1) = 600 ms after it began; grace 100 ms.
    const E = await newEvent({ holdTtlMs: 200, holdGraceMs: 100 }, ["H_1", "H_2"]);
    const k = env.keys.event(E);
    await seats.lock({ eventId: E, userId: "gone", seatId: "H_1" });
    await seats.unlock({ eventId: E, userId: "gone", seatId: "H_1" }); // a cool-down of COOL_MS, a budget
    await seats.holds.markLive(E, "node-a", ["gone"], 50);
    await seats.lock({ eventId: E, userId: "buyer", seatId: "H_2" });
    const orderId = "bbbbbbbb-0000-4000-8000-000000000001";
    await seats.reserveHold({ eventId: E, userId: "buyer", orderId, pendingMs: 300 }); // a pending marker
    await seats.setSeatState({ eventId: E, seatId: "H_2", action: "unreserve", orderId }); // a done marker (2 min)
    expect(await env.redis.zcard(k.cool)).toBe(1);
    expect(await env.redis.zcard(k.budgets)).toBe(2);
    expect(await env.redis.zcard(k.pendingOrders)).toBe(1);
    expect(await env.redis.hlen(k.live)).toBe(1);
    await sleep(Math.max(COOL_MS, 600) + 100);
    await env.redis.hdel(k.meta, "hkAt"); // housekeeping runs at most every 10 s per event: make it due now
    await seats.holds.sweep(E);
    expect(await env.redis.zcard(k.cool)).toBe(0);
    expect(await env.redis.zcard(k.budgets)).toBe(0);
    expect(await env.redis.zcard(k.pendingOrders)).toBe(0);
    expect(await env.redis.hlen(k.live)).toBe(0);
    expect(await env.redis.zrange(k.doneOrders, 0, -1)).toEqual([orderId]); // not lapsed yet
    // A lapsed cool-down no longer refuses, and nothing is left of the first user.
    expect(await reason(seats.lock({ eventId: E, userId: "gone", seatId: "H_1" }))).toBe("ok");
  });
});

describe("an event Redis lost", () => {
  it("is not brought back half by a sweep: no meta hash without its epoch, and the next reader loads it whole", async () => {
    const E = await newEvent({}, ["L_1"]);
    const k = env.keys.event(E);
    await seats.lock({ eventId: E, userId: "u", seatId: "L_1" });
    await env.redis.del(...k.script); // Redis lost the event (a flush, a failover)
    await seats.holds.sweep(E); // a node still watching it sweeps: housekeeping is due
    expect(await env.redis.exists(k.meta)).toBe(0);
    await expect(seats.snapshot({ eventId: E })).rejects.toMatchObject({ reason: "unknown_event" }); // no database here to load it from
  });
});
