import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { connectRedis, type Redis } from "@seatdrop/redis";
import { SeatError, SeatService, decodeHoldRecord, type SeatEvent, type SeatMessage } from "@seatdrop/seats";
import { registerScripts, type ScriptCaller } from "../src/scripts.ts";
import { SeatErrorCode as E } from "../src/errors.ts";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

/**
 * Group commit of locks and unlocks: lua/seatTransitions-19.lua applies a batch in order
 * with each transition's own rules and refusals, numbers its events contiguously and publishes them
 * in ONE message, each with its own origin; SeatService's TransitionBatcher forms the batches.
 */
let env: TestEnv;
let seats: SeatService;
let call: ScriptCaller;
let sub: Redis;
const BATCH_MAX = 8;
const settings = { holdTtlMs: 60_000, holdMaxSeats: 2, holdGraceMs: 30_000, holdMaxExtensions: 1 };

beforeAll(async () => {
  env = await createTestEnv({ SEAT_BATCH_MAX: String(BATCH_MAX), HOLD_RELOCK_COOLDOWN_MS: "0" });
  seats = new SeatService({ redis: env.redis, keys: env.keys, config: env.config, logger: createLogger("test", "silent") });
  call = registerScripts(env.redis);
  sub = connectRedis(env.config, "subscriber");
});
afterAll(async () => {
  sub.disconnect();
  await env.close();
});

let n = 0;
async function newEvent(seatIds: string[], rules: { maxSeatsPerUser?: number } = {}): Promise<string> {
  const id = `bbbbbbbb-0000-4000-8000-${String(++n).padStart(12, "0")}`;
  await seats.events.loadEvent(id, settings, seatIds, rules);
  return id;
}

/** Every message published on the event's channel from now on. */
async function listen(eventId: string): Promise<SeatMessage[]> {
  const channel = env.keys.event(eventId).channel;
  const got: SeatMessage[] = [];
  sub.on("smessage", (ch: string, text: string) => {
    if (ch === channel) got.push(JSON.parse(text) as SeatMessage);
  });
  await sub.ssubscribe(channel);
  return got;
}

type Op = ["lock" | "unlock" | "block", string, string, string?];
function batch(eventId: string, ops: Op[]): Promise<unknown> {
  const k = env.keys.event(eventId);
  return call("seatTransitions", k.script, [...ops.flatMap(([op, user, seat, origin]) => [op, user, seat, origin ?? ""])]);
}

async function logged(eventId: string): Promise<SeatEvent[]> {
  const entries = await env.redis.xrange(env.keys.event(eventId).log, "-", "+");
  return entries.map(([, f]) => JSON.parse(f[1]!) as SeatEvent);
}

const until = (cond: () => boolean, ms = 2000) =>
  vi.waitFor(
    () => {
      if (!cond()) throw new Error("timed out");
    },
    { timeout: ms, interval: 10 },
  );

describe("one batch", () => {
  it("applies mixed outcomes in order: granted, refused for each reason, a seat locked twice won once; one message, contiguous seqs, per-event origins", async () => {
    const seatIds = Array.from({ length: 10 }, (_, i) => `A_${i + 1}`);
    const eventId = await newEvent(seatIds, { maxSeatsPerUser: 3 });
    const k = env.keys.event(eventId);
    // Preparation: a reserved seat, a full hold, a user at the per-user limit, a cool-down, an offer.
    await seats.setSeatState({ eventId, seatId: "A_9", action: "reserve" });
    await seats.lock({ eventId, userId: "full", seatId: "A_7" });
    await seats.lock({ eventId, userId: "full", seatId: "A_8" });
    await env.redis.hset(k.ordered, "capped", 3);
    await env.redis.hset(k.meta, "cool", 60_000); // this file's events have no cool-down otherwise
    await env.redis.zadd(k.cool, Date.now() + 60_000, "cooler|A_5");
    await env.redis.hset(k.offers, "A_6", `${Date.now() + 60_000}|lucky`);
    const seq0 = Number(await env.redis.get(k.seq));
    const messages = await listen(eventId);

    const replies = (await batch(eventId, [
      ["lock", "u1", "A_1", "n1:1"], // granted, a new hold
      ["lock", "u2", "A_1", "n1:2"], // the same seat again in the same batch: refused
      ["unlock", "u2", "A_1", "n1:2"], // not hers
      ["unlock", "u2", "A_2", "n1:2"], // nobody's
      ["lock", "u1", "A_2", "n2:7"], // granted, into the same hold (from another node)
      ["lock", "u1", "A_3", "n1:1"], // the hold is full (max 2)
      ["lock", "full", "A_4", ""], // likewise, from before the batch
      ["lock", "capped", "A_4", ""], // seats in orders count toward the per-user limit
      ["lock", "u2", "A_9", ""], // reserved
      ["lock", "u2", "Z_99", ""], // not on the map
      ["lock", "cooler", "A_5", ""], // cooling down for this user
      ["lock", "u2", "A_6", ""], // offered to someone else
      ["unlock", "u1", "A_1", "n1:1"], // granted; the seat is free again...
      ["lock", "u3", "A_1", "n1:3"], // ...and taken by another buyer in the same batch
      ["lock", "u2", "A_5", "n1:2"], // someone else's cool-down does not stop a lock
    ])) as unknown[][];

    const at = (i: number) => replies[i]!;
    expect(replies).toHaveLength(15);
    expect(at(0).slice(0, 2)).toEqual([1, seq0 + 1]);
    expect(at(0)[3]).toBe(1); // a new hold
    expect(at(1)).toEqual([E.already_locked]);
    expect(at(2)).toEqual([E.not_yours]);
    expect(at(3)).toEqual([E.already_unlocked]);
    expect(at(4)).toEqual([1, seq0 + 2, at(0)[2], 0, 2, 0]); // same hold: same deadline, size 2, not new
    expect(at(5)).toEqual([E.hold_limit]);
    expect(at(6)).toEqual([E.hold_limit]);
    expect(at(7)).toEqual([E.user_limit]);
    expect(at(8)).toEqual([E.seat_unavailable]);
    expect(at(9)).toEqual([E.unknown_seat]);
    expect(at(10)!.slice(0, 2)).toEqual([E.relock_cooldown, "A_5"]);
    expect(at(10)![2]).toBeGreaterThan(50_000);
    expect(at(11)!.slice(0, 2)).toEqual([E.seat_offered, "A_6"]);
    expect(at(12)).toEqual([1, seq0 + 3, 1]);
    expect(at(13)!.slice(0, 2)).toEqual([1, seq0 + 4]);
    expect(at(14)!.slice(0, 2)).toEqual([1, seq0 + 5]);

    // The event's counter, its log and its one message agree, in the batch's order.
    const expected = [
      { seq: seq0 + 1, t: "locked", seat: "A_1", u: "u1" },
      { seq: seq0 + 2, t: "locked", seat: "A_2", u: "u1" },
      { seq: seq0 + 3, t: "unlocked", seat: "A_1", u: "u1", why: "unlocked" },
      { seq: seq0 + 4, t: "locked", seat: "A_1", u: "u3" },
      { seq: seq0 + 5, t: "locked", seat: "A_5", u: "u2" },
    ];
    expect(Number(await env.redis.get(k.seq))).toBe(seq0 + 5);
    expect((await logged(eventId)).slice(-5)).toEqual(expected);
    await until(() => messages.length > 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(messages).toHaveLength(1);
    const origins = ["n1:1", "n2:7", "n1:1", "n1:3", "n1:2"];
    expect(messages[0]!.ev).toEqual(expected.map((e, i) => ({ ...e, o: origins[i] })));
    expect(messages[0]!.o).toBeUndefined();

    // The state each seat ended in.
    expect(await env.redis.hgetall(k.state)).toMatchObject({ A_1: "L|u3", A_2: "L|u1", A_5: "L|u2", A_7: "L|full", A_8: "L|full" });
    expect(decodeHoldRecord(await env.redis.hget(k.holdInfo, "u1"))?.s).toEqual(["A_2"]);
    expect(await env.redis.hget(k.offers, "A_6")).toMatch(/\|lucky$/);
  });

  it("refuses every transition alike when the event is paused, not open, closed or unknown, and publishes nothing", async () => {
    const eventId = await newEvent(["B_1", "B_2"]);
    const k = env.keys.event(eventId);
    const messages = await listen(eventId);
    const ops: Op[] = [
      ["lock", "u1", "B_1"],
      ["lock", "u2", "B_2"],
    ];
    await env.redis.hset(k.meta, "paused", 1);
    expect(await batch(eventId, ops)).toEqual([[E.sales_paused], [E.sales_paused]]);
    await env.redis.hset(k.meta, "paused", 0, "opensAt", Date.now() + 60_000);
    expect(await batch(eventId, ops)).toEqual([[E.sales_not_open], [E.sales_not_open]]);
    await env.redis.hset(k.meta, "opensAt", 0, "closesAt", Date.now() - 1);
    expect(await batch(eventId, ops)).toEqual([[E.sales_closed], [E.sales_closed]]);
    const unknown = env.keys.event("bbbbbbbb-0000-4000-8000-ffffffffffff");
    expect(await call("seatTransitions", unknown.script, ["lock", "u1", "B_1", "", "unlock", "u1", "B_1", ""])).toEqual([[E.unknown_event], [E.unknown_event]]);
    await new Promise((r) => setTimeout(r, 50));
    expect(messages).toHaveLength(0);
    expect(await env.redis.hlen(k.state)).toBe(0);
  });

  it("refuses a malformed batch (not groups of four, an unknown op) before changing anything", async () => {
    const eventId = await newEvent(["C_1"]);
    const k = env.keys.event(eventId);
    await expect(call("seatTransitions", k.script, ["lock", "u1", "C_1"])).rejects.toThrow(/groups of op, user, seat, origin/);
    await expect(call("seatTransitions", k.script, ["lock", "u1", "C_1", "", "grab", "u1", "C_1", ""])).rejects.toThrow(/unknown op grab/);
    expect(await env.redis.hlen(k.state)).toBe(0);
    expect(await env.redis.get(k.seq)).toBeNull();
  });
});

describe("the batcher", () => {
  it("keeps each connection's transitions in the order sent, within and across batches; batches stay within SEAT_BATCH_MAX; nothing waits when idle", async () => {
    const others = Array.from({ length: 40 }, (_, i) => `D_${i + 2}`);
    const eventId = await newEvent(["D_1", ...others]);
    const messages = await listen(eventId);

    // A lone transition is a batch of one, sent at once.
    const first = await seats.lock({ eventId, userId: "toggler", seatId: "D_1", origin: "n:1" });
    await seats.unlock({ eventId, userId: "toggler", seatId: "D_1", origin: "n:1" });

    // One connection toggling one seat 60 times without waiting, beside 40 buyers locking at once:
    // every toggle must be granted (an unlock overtaking its lock would be refused).
    const toggles: Promise<{ seq: number }>[] = [];
    const crowd: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      toggles.push(i % 2 === 0 ? seats.lock({ eventId, userId: "toggler", seatId: "D_1", origin: "n:1" }) : seats.unlock({ eventId, userId: "toggler", seatId: "D_1", origin: "n:1" }));
      if (i < others.length) crowd.push(seats.lock({ eventId, userId: `buyer-${i}`, seatId: others[i]!, origin: `n:${i + 2}` }));
    }
    const results = await Promise.all(toggles);
    await Promise.all(crowd);
    const seqs = results.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs[0]).toBeGreaterThan(first.seq);

    // 2 + 60 + 40 events, contiguous, in at most ceil(100/8) + 2 messages of at most 8 each.
    const total = 2 + 60 + others.length;
    await until(() => messages.reduce((s, m) => s + m.ev.length, 0) >= total);
    const all = messages.flatMap((m) => m.ev.map((e) => e.seq));
    expect(all).toEqual(Array.from({ length: total }, (_, i) => first.seq + i));
    expect(Math.max(...messages.map((m) => m.ev.length))).toBeLessThanOrEqual(BATCH_MAX);
    expect(messages.length).toBeLessThan(total); // batches formed: fewer messages than transitions
    expect(messages[0]!.ev).toHaveLength(1); // the first went alone, at once
    // Each event names the connection that caused it.
    for (const m of messages) for (const e of m.ev) expect(e.o).toBe(e.u === "toggler" ? "n:1" : `n:${Number(e.u!.slice(6)) + 2}`);
  });

  it("a refusal inside a batch is that transition's alone: the others in the batch are granted", async () => {
    const eventId = await newEvent(["E_1", "E_2", "E_3"]);
    const outcomes = await Promise.all(
      ["a", "b", "c", "d"].map((u, i) =>
        seats.lock({ eventId, userId: u, seatId: i < 2 ? "E_1" : `E_${i}` }).then(
          () => "ok",
          (e: SeatError) => e.reason,
        ),
      ),
    );
    expect(outcomes).toEqual(["ok", "already_locked", "ok", "ok"]);
  });
});

describe("best-available blocks (op block)", () => {
  it("locks the first candidate whose every seat is free for the caller, all or nothing; none free is no_block and changes nothing", async () => {
    const eventId = await newEvent(Array.from({ length: 8 }, (_, i) => `A_${i + 1}`));
    const k = env.keys.event(eventId);
    await seats.setSeatState({ eventId, seatId: "A_2", action: "reserve" });
    await env.redis.hset(k.offers, "A_6", `${Date.now() + 60_000}|lucky`);
    const seq0 = Number(await env.redis.get(k.seq));
    const messages = await listen(eventId);

    const replies = (await batch(eventId, [
      ["block", "b1", "A_1 A_2,A_3 A_4,A_5 A_6", "n1:1"], // A_2 reserved: the second candidate
      ["block", "b2", "A_3 A_4,A_5 A_6,A_7 A_8", "n1:2"], // A_3 just went, A_6 offered to another: the third
      ["block", "b3", "A_3 A_4,A_7 A_8", "n1:3"], // both gone: no block, nothing written
      ["block", "b4", "A_1 A_5 A_6", "n1:4"], // three seats over a hold limit of two
    ])) as unknown[][];
    expect(replies[0]).toEqual([1, seq0 + 2, expect.any(Number), 1, 2, expect.any(Number), 2]);
    expect(replies[1]).toEqual([1, seq0 + 4, expect.any(Number), 1, 2, 0, 3]);
    expect(replies[2]).toEqual([E.no_block]);
    expect(replies[3]).toEqual([E.hold_limit]);

    const state = await env.redis.hgetall(k.state);
    expect(state).toEqual({ A_2: expect.stringMatching(/^R\|/), A_3: "L|b1", A_4: "L|b1", A_7: "L|b2", A_8: "L|b2" });
    expect(await env.redis.hexists(k.holdInfo, "b3")).toBe(0);
    expect(JSON.parse((await env.redis.hget(k.holdInfo, "b1"))!).s).toEqual(["A_3", "A_4"]);
    await until(() => messages.length > 0);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.ev.map((e) => [e.t, e.seat, e.u])).toEqual([
      ["locked", "A_3", "b1"],
      ["locked", "A_4", "b1"],
      ["locked", "A_7", "b2"],
      ["locked", "A_8", "b2"],
    ]);
  });
});
