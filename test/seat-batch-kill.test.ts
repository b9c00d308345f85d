import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { connectRedis, type Redis } from "@seatdrop/redis";
import { SeatService, decodeHoldRecord, type SeatEvent, type SeatMessage } from "@seatdrop/seats";
import { createTestEnv, type TestEnv } from "./support/test-env.ts";

/**
 * A process killed (-9) while its group-committed batches of locks and unlocks are in flight: each
 * batch is one script call, so Redis applied it whole or not at all. After every kill, what Redis
 * holds must be explainable by whole batches: the event's counter, its log and the messages
 * published agree (no seq twice, none missing), replaying the log gives exactly the state hash, and
 * every lock has its hold and every hold its locks.
 */
const spammer = fileURLToPath(new URL("./support/transition-spammer.ts", import.meta.url));
const SEATS = 40;
let env: TestEnv;
let seats: SeatService;
let sub: Redis;

beforeAll(async () => {
  env = await createTestEnv({ EVENT_LOG_MAX: "1000000", HOLD_RELOCK_COOLDOWN_MS: "0" });
  seats = new SeatService({ redis: env.redis, keys: env.keys, config: env.config, logger: createLogger("test", "silent") });
  sub = connectRedis(env.config, "subscriber");
});
afterAll(async () => {
  sub.disconnect();
  await env.close();
});

/** Starts the spammer, waits until it has sent `batches` messages of more than one event, then kills it with -9. */
async function runAndKill(eventId: string, messages: SeatMessage[], batches: number): Promise<void> {
  const child = spawn(process.execPath, ["--import", "tsx", spammer], {
    env: { ...process.env, REDIS_URL: env.config.REDIS_URL, REDIS_PREFIX: env.config.REDIS_PREFIX, EVENT_ID: eventId, SEATS: String(SEATS), USERS: "64", SEAT_BATCH_MAX: "32" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`spammer exited with ${code}`)));
  });
  const start = messages.filter((m) => m.ev.length > 1).length;
  await vi.waitFor(
    () => {
      if (messages.filter((m) => m.ev.length > 1).length < start + batches) throw new Error("the spammer formed no batches");
    },
    { timeout: 20_000, interval: 5 },
  );
  child.kill("SIGKILL");
  await exited;
}

async function checkWhole(eventId: string, messages: SeatMessage[]): Promise<{ events: number }> {
  const k = env.keys.event(eventId);
  // What was published has arrived once the subscriber has answered a round trip after the kill.
  await new Promise((r) => setTimeout(r, 200));
  const seq = Number(await env.redis.get(k.seq));
  const log = (await env.redis.xrange(k.log, "-", "+")).map(([id, f]) => ({ id, ev: JSON.parse(f[1]!) as SeatEvent }));
  expect(log.map((e) => e.ev.seq)).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
  expect(log.every((e) => e.id === `${e.ev.seq}-1`)).toBe(true);
  const published = messages.flatMap((m) => m.ev);
  expect(published.map((e) => e.seq)).toEqual(log.map((e) => e.ev.seq));
  expect(published.map(({ o: _o, ...e }) => e)).toEqual(log.map((e) => e.ev));

  // Replaying the log from an empty map gives the state hash exactly.
  const replay = new Map<string, string>();
  for (const { ev } of log) {
    if (ev.t === "locked") {
      expect(replay.has(ev.seat), `seq ${ev.seq} locks ${ev.seat}, which was taken`).toBe(false);
      replay.set(ev.seat, `L|${ev.u}`);
    } else if (ev.t === "unlocked") {
      expect(replay.get(ev.seat), `seq ${ev.seq} unlocks ${ev.seat}`).toBe(`L|${ev.u}`);
      replay.delete(ev.seat);
    }
  }
  const state = await env.redis.hgetall(k.state);
  expect(state).toEqual(Object.fromEntries(replay));

  // Every lock has its hold; every hold's seats are its locks, and its deadline is the index's.
  const holders = await env.redis.zrange(k.holds, 0, -1);
  const holdOf = async (user: string) => decodeHoldRecord(await env.redis.hget(k.holdInfo, user));
  for (const [seat, v] of Object.entries(state)) {
    const user = v.slice(2);
    expect(holders).toContain(user);
    expect((await holdOf(user))?.s).toContain(seat);
  }
  for (const user of holders) {
    const hold = await holdOf(user);
    expect(hold?.s.length).toBeGreaterThan(0);
    for (const seat of hold!.s) expect(state[seat]).toBe(`L|${user}`);
    expect(Number(await env.redis.zscore(k.holds, user))).toBe(hold!.dl);
  }
  expect(await env.redis.hlen(k.holdInfo)).toBe(holders.length);
  return { events: seq };
}

describe("a process killed with batches in flight", () => {
  it("leaves every batch applied whole or not at all: counter, log, messages and state agree after each of three kills", { timeout: 90_000 }, async () => {
    const seatIds = Array.from({ length: SEATS }, (_, i) => `K_${i + 1}`);
    const eventId = "cccccccc-0000-4000-8000-000000000001";
    await seats.events.loadEvent(eventId, { holdTtlMs: 600_000, holdMaxSeats: 4, holdGraceMs: 30_000, holdMaxExtensions: 0 }, seatIds);
    const channel = env.keys.event(eventId).channel;
    const messages: SeatMessage[] = [];
    sub.on("smessage", (ch: string, text: string) => {
      if (ch === channel) messages.push(JSON.parse(text) as SeatMessage);
    });
    await sub.ssubscribe(channel);

    let events = 0;
    for (let round = 0; round < 3; round++) {
      await runAndKill(eventId, messages, 30 + round * 20);
      const r = await checkWhole(eventId, messages);
      expect(r.events).toBeGreaterThan(events);
      events = r.events;
      // Locks the dead process left behind are legitimate holds; the next round starts from them.
    }
    // Batches really were in flight together: messages carried several buyers' transitions.
    expect(Math.max(...messages.map((m) => m.ev.length))).toBeGreaterThan(1);
  });
});
