import { describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { eq } from "drizzle-orm";
import { events } from "@seatdrop/db";
import { createLogger } from "@seatdrop/observability";
import { PassSigner, WaitingRooms, checkPow, solvePow } from "@seatdrop/queue";
import { createEvent, createUser, eventually, push, seatIdsGrid } from "../../../test/support/cluster.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { buyHold, createRoomEvent } from "../../../test/support/waiting-room.ts";

/**
 * The waiting room's door and rules over the stock Phoenix client: who may join, the proof of work,
 * one place per user, the pass that locks need, the cap, pausing, places given up, and a room that
 * sells out and runs again when seats come back.
 */
const world = useCluster({ QUEUE_TICK_MS: "100", QUEUE_POSITION_MS: "200", QUEUE_ABANDON_MS: "1500", WS_HOLD_SWEEP_MS: "200" }, { nodes: 2, worker: false });

const soon = (ms: number) => new Date(Date.now() + ms);
const rooms = () => new WaitingRooms({ redis: world.env.redis, keys: world.env.keys, config: world.env.config, logger: createLogger("test", "silent"), db: world.env.db.db });
/** A room already drawn (with an empty pre-queue): later joins queue in arrival order. */
async function runningRoom(seats: string[], o: { maxActive?: number; turnMs?: number; powBits?: number } = {}) {
  const made = await createRoomEvent(world.env, seats, { opensAt: soon(-2000), salesOpenAt: soon(-1000), ...o });
  const r = rooms();
  await r.ensureLoaded(made.eventId);
  await r.draw(made.eventId);
  return made;
}

async function joinQueue(node: number, token: string, eventId: string, params: Record<string, unknown> = {}) {
  return world.client(node, token).join(`queue:${eventId}`, params);
}

describe("the waiting room's door", () => {
  it("refuses anonymous users, unknown events, events without a room and malformed payloads, naming why", async () => {
    const { eventId } = await runningRoom(seatIdsGrid(1, 4));
    const plain = await createEvent(world.env, seatIdsGrid(1, 4));
    const u = await createUser(world.env);
    const refusal = (p: Promise<unknown>) => p.then(() => null, (e: { reply: Record<string, unknown> }) => e.reply);
    expect(await refusal(world.client(0).join(`queue:${eventId}`))).toMatchObject({ reason: "unauthorized" });
    expect(await refusal(joinQueue(0, u.token, "5b8f9a2c-0000-4000-8000-000000000000"))).toMatchObject({ reason: "unknown_event" });
    expect(await refusal(joinQueue(0, u.token, "not-a-uuid"))).toMatchObject({ reason: "unknown_event" });
    expect(await refusal(joinQueue(1, u.token, plain))).toMatchObject({ reason: "no_waiting_room" });
    expect(await refusal(joinQueue(1, u.token, eventId, { nonce: 42 }))).toMatchObject({ reason: "malformed_payload", field: "nonce" });
    // None of the refusals took a place.
    const { reply } = await joinQueue(0, u.token, eventId);
    expect(reply).toMatchObject({ state: "waiting", position: 1, ahead: 0 });
  });

  it("says not_open before the pre-queue opens, and pre_queue (no place yet) before the draw", async () => {
    const u = await createUser(world.env);
    const early = await createRoomEvent(world.env, seatIdsGrid(1, 4), { opensAt: soon(60_000), salesOpenAt: soon(120_000) });
    expect((await joinQueue(0, u.token, early.eventId)).reply).toMatchObject({ state: "not_open", position: null, commitment: early.room.commitment });
    const pre = await createRoomEvent(world.env, seatIdsGrid(1, 4), { opensAt: soon(-1000), salesOpenAt: soon(60_000) });
    expect((await joinQueue(1, u.token, pre.eventId)).reply).toMatchObject({ state: "pre_queue", position: null, ahead: null, commitment: pre.room.commitment });
  });

  it("asks for the proof of work when the room sets pow_bits, and checks it", async () => {
    const { eventId, room } = await runningRoom(seatIdsGrid(1, 4), { powBits: 8 });
    const u = await createUser(world.env);
    const refusal = (p: Promise<unknown>) => p.then(() => null, (e: { reply: Record<string, unknown> }) => e.reply);
    expect(await refusal(joinQueue(0, u.token, eventId))).toMatchObject({ reason: "pow_required", field: "nonce", bits: 8, challenge: room.challenge });
    // A nonce solved for another user is worth nothing to this one.
    const other = await createUser(world.env);
    let stolen = "";
    for (let from = 0; !stolen || checkPow(room.challenge, u.id, stolen, 8); from++) stolen = solvePow(room.challenge, other.id, 8, from);
    expect(checkPow(room.challenge, other.id, stolen, 8)).toBe(true);
    expect(await refusal(joinQueue(0, u.token, eventId, { nonce: stolen }))).toMatchObject({ reason: "pow_invalid", field: "nonce" });
    expect((await joinQueue(1, u.token, eventId, { nonce: solvePow(room.challenge, u.id, 8) })).reply).toMatchObject({ state: "waiting" });
  });

  it("keeps one place per user across tabs and nodes, and gives it up when no socket is left on the topic", async () => {
    // No seats free: nobody is admitted, so places only move when someone leaves.
    const seats = seatIdsGrid(1, 2);
    const { eventId } = await runningRoom(seats);
    const holder = await createUser(world.env);
    for (const seatId of seats) await world.cluster.seats.setSeatState({ eventId, seatId, action: "reserve" });
    void holder;
    const [a, b, c] = await Promise.all([createUser(world.env), createUser(world.env), createUser(world.env)]);
    const aTab1 = await joinQueue(0, a.token, eventId);
    const bJoin = await joinQueue(0, b.token, eventId);
    const cJoin = await joinQueue(1, c.token, eventId);
    const aTab2 = await joinQueue(1, a.token, eventId);
    expect([aTab1.reply.position, bJoin.reply.position, cJoin.reply.position, aTab2.reply.position]).toEqual([1, 2, 3, 1]);
    // b leaves for good: after QUEUE_ABANDON_MS c moves up; a keeps its place while one tab is left.
    await bJoin.channel.leave();
    aTab1.channel.leave();
    await eventually(() => cJoin.log.some((m) => m.event === "position" && m.payload.position === 2), 10_000, "c moved up to 2");
    const again = await joinQueue(0, a.token, eventId);
    expect(again.reply).toMatchObject({ state: "waiting", position: 1 });
  });
});

describe("admission and the pass", () => {
  it("admits as seats allow, caps buyers shopping at max_active, and the pass alone lets a buyer lock", async () => {
    const seats = seatIdsGrid(2, 10);
    const { eventId } = await runningRoom(seats, { maxActive: 2 });
    const users = await Promise.all([0, 1, 2, 3].map(() => createUser(world.env)));
    const joins: Awaited<ReturnType<typeof joinQueue>>[] = [];
    for (const [i, u] of users.entries()) joins.push(await joinQueue(i % 2, u.token, eventId));
    const admittedPush = (j: Awaited<ReturnType<typeof joinQueue>>) => j.log.find((m) => m.event === "admitted")?.payload as { pass: string; expires_at: number } | undefined;
    await eventually(() => admittedPush(joins[0]!) && admittedPush(joins[1]!), 10_000, "the first two admitted");
    // The cap: the third and fourth wait while two buyers shop.
    await new Promise((r) => setTimeout(r, 600));
    expect(admittedPush(joins[2]!)).toBeUndefined();
    expect(joins[2]!.log.filter((m) => m.event === "position").every((m) => (m.payload.position as number) >= 1)).toBe(true);

    const [first, second, third] = users as [(typeof users)[0], (typeof users)[0], (typeof users)[0]];
    const pass = admittedPush(joins[0]!)!.pass;
    // Without a pass the map is watched, but a lock is refused.
    const watcher = await world.client(0, third.token).join(`seats:${eventId}`, { changes: true });
    expect(watcher.reply.waiting_room).toEqual({ admitted: false, expires_at: null });
    expect((await push(watcher.channel, "lock", { seat: "A_1" })).response).toMatchObject({ reason: "not_admitted", seat: "A_1" });
    // Another user's pass is refused like none; so is a forged or an expired one; a malformed one names the field.
    for (const bad of [pass, `${Date.now() + 60_000}.${"A".repeat(43)}`, new PassSigner(world.env.config.JWT_SECRET).sign(eventId, third.id, Date.now() - 1000)]) {
      const j = await world.client(1, third.token).join(`seats:${eventId}`, { changes: true, pass: bad });
      expect(j.reply.waiting_room).toMatchObject({ admitted: false });
      expect((await push(j.channel, "lock", { seat: "A_1" })).response).toMatchObject({ reason: "not_admitted" });
    }
    await expect(world.client(1, third.token).join(`seats:${eventId}`, { pass: "not a pass" })).rejects.toMatchObject({ reply: { reason: "malformed_payload", field: "pass" } });
    console.log("[waiting room × passes] no pass, another user's, forged, expired: 4 of 4 locks refused not_admitted (the map still watched); a malformed pass: join refused malformed_payload (field pass); the owner's pass: lock ok");
    // The buyer's own pass locks.
    const buyer = await world.client(1, first.token).join(`seats:${eventId}`, { changes: true, pass });
    expect(buyer.reply.waiting_room).toMatchObject({ admitted: true, expires_at: admittedPush(joins[0]!)!.expires_at });
    expect((await push(buyer.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    // Once the first two have bought and left, the next two are admitted.
    await buyHold(world.cluster.seats, eventId, first.id);
    const b2 = await world.client(0, second.token).join(`seats:${eventId}`, { changes: true, pass: admittedPush(joins[1]!)!.pass });
    expect((await push(b2.channel, "lock", { seat: "A_2" })).status).toBe("ok");
    await buyHold(world.cluster.seats, eventId, second.id);
    await eventually(() => admittedPush(joins[2]!) && admittedPush(joins[3]!), 10_000, "the next two admitted");
  });

  it("admits nobody while paused, and again once resumed", async () => {
    const { eventId, room } = await runningRoom(seatIdsGrid(1, 10));
    const r = rooms();
    await world.env.db.db.update(events).set({ waitingRoom: { ...room, paused: true } }).where(eq(events.id, eventId));
    await r.ensureLoaded(eventId);
    await r.update(eventId);
    const u = await createUser(world.env);
    const j = await joinQueue(0, u.token, eventId);
    await new Promise((res) => setTimeout(res, 800));
    expect(j.log.some((m) => m.event === "admitted")).toBe(false);
    expect((await r.status(eventId))!.paused).toBe(true);
    await world.env.db.db.update(events).set({ waitingRoom: { ...room, paused: false } }).where(eq(events.id, eventId));
    await r.update(eventId);
    await eventually(() => j.log.some((m) => m.event === "admitted"), 10_000, "admitted after resume");
  });

  it("tells waiters sold_out when the last seat is sold, and runs again when a seat comes back", async () => {
    const seats = seatIdsGrid(1, 2);
    const { eventId } = await runningRoom(seats);
    const buyer = await createUser(world.env);
    const bj = await joinQueue(0, buyer.token, eventId);
    const pass = ((await eventually(() => bj.log.find((m) => m.event === "admitted"), 10_000, "buyer admitted")).payload as { pass: string }).pass;
    const map = await world.client(0, buyer.token).join(`seats:${eventId}`, { changes: true, pass });
    for (const seat of seats) expect((await push(map.channel, "lock", { seat })).status).toBe("ok");
    const waiter = await createUser(world.env);
    const wj = await joinQueue(1, waiter.token, eventId);
    expect(wj.reply).toMatchObject({ state: "waiting", position: 1 });
    await buyHold(world.cluster.seats, eventId, buyer.id);
    await eventually(() => wj.log.some((m) => m.event === "sold_out"), 10_000, "sold_out told");
    expect((await rooms().status(eventId))!).toMatchObject({ state: "sold_out", sold_out: true });
    // A refund gives a seat back: the room runs again and the waiter is admitted.
    await world.cluster.seats.setSeatState({ eventId, seatId: "A_1", action: "revoke" });
    await eventually(() => wj.log.some((m) => m.event === "admitted"), 10_000, "admitted after the seat came back");
  });
});

describe("seats that come free while people wait", () => {
  it("offers an expired hold's seats to the next buyer in the queue, not to the fastest lock", async () => {
    const seats = seatIdsGrid(1, 3);
    const made = await createRoomEvent(world.env, seats, { opensAt: soon(-2000), salesOpenAt: soon(-1000), holdTtlMs: 1500 });
    const r = rooms();
    await r.ensureLoaded(made.eventId);
    await r.draw(made.eventId);
    const eventId = made.eventId;
    const [slow, bot, next] = await Promise.all([createUser(world.env), createUser(world.env), createUser(world.env)]);
    const pass = async (j: Awaited<ReturnType<typeof joinQueue>>) =>
      ((await eventually(() => j.log.find((m) => m.event === "admitted"), 10_000, "admitted")).payload as { pass: string }).pass;
    // Two buyers admitted and holding or owning every seat; a third waits.
    const sj = await joinQueue(0, slow.token, eventId);
    const bj = await joinQueue(1, bot.token, eventId);
    const slowMap = await world.client(0, slow.token).join(`seats:${eventId}`, { changes: true, pass: await pass(sj) });
    const botMap = await world.client(1, bot.token).join(`seats:${eventId}`, { changes: true, pass: await pass(bj) });
    expect((await push(slowMap.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    expect((await push(slowMap.channel, "lock", { seat: "A_2" })).status).toBe("ok");
    expect((await push(botMap.channel, "lock", { seat: "A_3" })).status).toBe("ok");
    // The bot bought its seat (so it is no longer a buyer waiting for one) and wants more.
    await buyHold(world.cluster.seats, eventId, bot.id);
    const nj = await joinQueue(0, next.token, eventId);
    expect(nj.reply).toMatchObject({ state: "waiting", position: 1 });
    // The slow buyer's hold expires: its seats are offered to the next in the queue, admitted at once;
    // the bot polling lock on them is refused with the time left.
    let took = false;
    const refused = await vi.waitFor(
      async () => {
        const res = await push(botMap.channel, "lock", { seat: "A_1" });
        took ||= res.status === "ok";
        if (res.response.reason !== "seat_offered" && !took) throw new Error(`not offered yet: ${JSON.stringify(res.response)}`);
        return res.response;
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(took).toBe(false);
    expect(refused).toMatchObject({ reason: "seat_offered", seat: "A_1" });
    expect(refused!.retry_after_ms).toBeGreaterThan(0);
    const nextMap = await world.client(1, next.token).join(`seats:${eventId}`, { changes: true, pass: await pass(nj) });
    expect((await push(nextMap.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    expect((await push(nextMap.channel, "lock", { seat: "A_2" })).status).toBe("ok");
    console.log(`[waiting room × bot at expiry] the bot's locks on an expired hold's seats: refused seat_offered (retry_after_ms ${refused!.retry_after_ms}); the next in the queue, admitted by the release, locked both`);
  });
});

describe("queue joins are counted", () => {
  it("per user across nodes: past LIMIT_QUEUE_JOINS_PER_USER in the window, rate_limited with retry_after_ms, and the place is kept", async () => {
    const { eventId } = await runningRoom(seatIdsGrid(1, 4));
    const u = await createUser(world.env);
    const limit = world.env.config.LIMIT_QUEUE_JOINS_PER_USER;
    const clients = [world.client(0, u.token), world.client(1, u.token)];
    let first: Record<string, unknown> | undefined;
    for (let i = 0; i < limit; i++) {
      const j = await clients[i % 2]!.join(`queue:${eventId}`);
      first ??= j.reply;
      expect(j.reply).toMatchObject({ state: expect.stringMatching(/^(waiting|admitted)$/) });
      j.channel.leave();
    }
    const refused = await clients[limit % 2]!.join(`queue:${eventId}`).then(() => null, (e: { reply: Record<string, unknown> }) => e.reply);
    expect(refused).toMatchObject({ reason: "rate_limited" });
    expect(refused!.retry_after_ms).toBeGreaterThan(0);
    // The refusal cost no place: the user is still in the room (or admitted).
    const inRoom = (await world.env.redis.zscore(world.env.keys.room(eventId).queue, u.id)) ?? (await world.env.redis.zscore(world.env.keys.room(eventId).admitted, u.id));
    expect(inRoom).not.toBeNull();
    expect(first).toBeDefined();
  });
});

describe("the end of a turn", () => {
  it("is pushed as turn_ended, after which the pass no longer locks", async () => {
    const { eventId } = await runningRoom(seatIdsGrid(1, 4), { turnMs: 1500 });
    const u = await createUser(world.env);
    const j = await joinQueue(1, u.token, eventId);
    const admitted = (await eventually(() => j.log.find((m) => m.event === "admitted"), 10_000, "admitted")).payload as { pass: string; expires_at: number; server_time: number };
    expect(admitted.expires_at - admitted.server_time).toBeGreaterThan(0);
    expect(admitted.expires_at - admitted.server_time).toBeLessThanOrEqual(1500);
    const map = await world.client(0, u.token).join(`seats:${eventId}`, { changes: true, pass: admitted.pass });
    const ended = await eventually(() => j.log.find((m) => m.event === "turn_ended"), 10_000, "turn_ended");
    expect(ended.payload).toEqual({ expired_at: admitted.expires_at });
    expect((await push(map.channel, "lock", { seat: "A_1" })).response).toMatchObject({ reason: "not_admitted" });
  });
});

describe("a room added while buyers are joined", () => {
  it("applies to their next lock, once the node's copy of the settings is renewed", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 60));
    const u = await createUser(world.env);
    const j = await world.client(0, u.token).join(`seats:${eventId}`, { changes: true });
    expect(j.reply.waiting_room).toBeUndefined();
    expect((await push(j.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    // A room's settings as the API makes them (taken from another event's), put on this event.
    const { room } = await createRoomEvent(world.env, seatIdsGrid(1, 1), { opensAt: soon(-2000), salesOpenAt: soon(-1000) });
    await world.env.db.db.update(events).set({ waitingRoom: room, salesOpenAt: soon(-1000) }).where(eq(events.id, eventId));
    // Within the settings' cache life (5 s) the lock may still pass; then it is refused.
    // Each try takes a fresh seat (relocking one just released waits out a cool-down).
    let n = 1;
    const refused = await vi.waitFor(
      async () => {
        const seat = `A_${++n}`;
        const r = await push(j.channel, "lock", { seat });
        if (r.status === "ok") await push(j.channel, "unlock", { seat });
        if (r.status !== "error") throw new Error("the lock still passes");
        return r.response;
      },
      { timeout: 15_000, interval: 250 },
    );
    expect(refused).toMatchObject({ reason: "not_admitted", seat: `A_${n}` });
  });
});

describe("the legacy seat dialect and a waiting room", () => {
  it("refuses its locks on an event with a room (it cannot carry a pass), naming why", async () => {
    const { eventId } = await runningRoom(seatIdsGrid(1, 4));
    const u = await createUser(world.env);
    const ws = new WebSocket(`ws://127.0.0.1:${world.cluster.nodes[0]!.port}/?event=${eventId}&token=${u.token}`);
    const frames: { event: string; data: unknown }[] = [];
    ws.on("message", (d: WebSocket.RawData) => frames.push(JSON.parse(String(d)) as { event: string; data: unknown }));
    await eventually(() => frames.some((f) => f.event === "startstate"), 10_000, "startstate");
    ws.send(JSON.stringify({ action: "lock", seat: "A_1" }));
    const refusal = await eventually(() => frames.find((f) => f.event === "error"), 10_000, "the refusal");
    expect(refusal.data).toMatchObject({ code: "not_admitted", seat: "A_1" });
    expect(await world.env.redis.hget(world.env.keys.event(eventId).state, "A_1")).toBeNull();
    ws.close();
  });
});
