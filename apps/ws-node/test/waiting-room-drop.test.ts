import { describe, expect, it } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { commitmentOf, drawKey, WaitingRooms } from "@seatdrop/queue";
import { createUser, eventually, push, seatIdsGrid, type PhxClient, type Received } from "../../../test/support/cluster.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { buyHold, createRoomEvent, spearman } from "../../../test/support/waiting-room.ts";

/**
 * A drop rehearsal through the waiting room, with the stock Phoenix client on two nodes: 300
 * waiters join the pre-queue, the draw at `sales_open_at` orders them, admission follows the 40
 * seats that are left, admitted buyers lock with their pass and pay, the event sells out and every
 * waiter is told. The draw is checked against the published seed and keys, and statistically
 * (arrival order and place uncorrelated).
 */
const world = useCluster({ QUEUE_TICK_MS: "100", QUEUE_POSITION_MS: "200", WS_HOLD_SWEEP_MS: "200" }, { nodes: 2, worker: false });

const WAITERS = 300;

interface Waiter {
  i: number;
  userId: string;
  client: PhxClient;
  log: Received[];
  joinReply: Record<string, unknown>;
  /** Time each push arrived. */
  at: number[];
  bought: string[];
}

describe("a drop through the waiting room", () => {
  it("draws, admits by inventory, sells out and tells every waiter", { timeout: 120_000 }, async () => {
    const { env, cluster } = world;
    const seatIds = seatIdsGrid(4, 10);
    const users = [];
    for (let i = 0; i < WAITERS; i += 50) users.push(...(await Promise.all(Array.from({ length: Math.min(50, WAITERS - i) }, () => createUser(env)))));
    const salesOpenAt = new Date(Date.now() + 8000);
    const { eventId, room } = await createRoomEvent(env, seatIds, { opensAt: new Date(Date.now() - 1000), salesOpenAt, turnMs: 20_000 });
    const rooms = new WaitingRooms({ redis: env.redis, keys: env.keys, config: env.config, logger: createLogger("test", "silent"), db: env.db.db });

    // Arrival order: joins in order, a few at a time, all before the draw.
    const waiters: Waiter[] = [];
    const shopErrors: unknown[] = [];
    /** When the buy that paid the last seat began. */
    let soldAt = 0;
    for (let i = 0; i < WAITERS; i += 10) {
      const batch = users.slice(i, i + 10).map(async (u, k) => {
        const client = world.client((i + k) % 2, u.token);
        const { reply, log, channel } = await client.join(`queue:${eventId}`);
        const w: Waiter = { i: i + k, userId: u.id, client, log, joinReply: reply, at: [], bought: [] };
        const onMessage = channel.onMessage;
        channel.onMessage = (event, payload, ref) => {
          if (event === "position" || event === "admitted" || event === "sold_out") w.at.push(Date.now());
          if (event === "admitted") shop(w, (payload as { pass: string }).pass, channel).catch((err: unknown) => shopErrors.push(err));
          return onMessage.call(channel, event, payload, ref);
        };
        return w;
      });
      waiters.push(...(await Promise.all(batch)));
    }
    expect(Date.now()).toBeLessThan(salesOpenAt.getTime());
    for (const w of waiters) expect(w.joinReply).toMatchObject({ state: "pre_queue", position: null, commitment: room.commitment });

    // Admission never lets the buyers about to take seats outnumber the free seats.
    const samples: { free: number; empty: number; admitted: number }[] = [];
    const sampler = setInterval(() => {
      void env.redis.hmget(env.keys.room(eventId).meta, "free", "empty", "admittedTotal", "drawn").then(([free, empty, admitted, drawn]) => {
        if (drawn === "1" && free !== null) samples.push({ free: Number(free), empty: Number(empty), admitted: Number(admitted ?? 0) });
      }, () => {}); // the file's Redis closes after a failed test; a sample then is simply not taken
    }, 50);

    /** An admitted buyer: watch the map with the pass, lock one or two free seats, pay, leave the room. */
    async function shop(w: Waiter, pass: string, queue: { leave(): unknown }) {
      const { channel, reply } = await w.client.join(`seats:${eventId}`, { changes: true, pass });
      expect(reply.waiting_room).toMatchObject({ admitted: true });
      const taken = new Set(Object.keys(reply.seats as Record<string, string>));
      const want = 1 + (w.i % 2);
      const candidates = seatIds.filter((s) => !taken.has(s)).sort(() => Math.random() - 0.5);
      let locked = 0;
      for (const seat of candidates) {
        if (locked >= want) break;
        const r = await push(channel, "lock", { seat });
        if (r.status === "ok") locked++;
        else expect(["seat_unavailable", "already_locked", "rate_limited"]).toContain(r.response.reason);
      }
      // The time before the buy: its last seat is sold somewhere inside the call, and a waiter may be
      // told sold_out before the call's answer is back here (it was, by 22 ms, on a Redis Cluster).
      const buying = Date.now();
      if (locked > 0) w.bought = await buyHold(cluster.seats, eventId, w.userId);
      // Only a buy that took seats can be the one that sold the last: a buyer whose locks were all
      // refused gets here after the sell-out, and its later time must not stand for it.
      if (w.bought.length > 0 && waiters.reduce((n, x) => n + x.bought.length, 0) === seatIds.length) soldAt = buying;
      queue.leave();
    }

    const told = (w: Waiter) => w.log.some((m) => m.event === "admitted" || m.event === "sold_out");
    await eventually(() => waiters.every(told), 60_000, "every waiter admitted or told sold out").catch(async (err: unknown) => {
      const meta = await env.redis.hgetall(env.keys.room(eventId).meta);
      const seats = await env.redis.hgetall(env.keys.event(eventId).state);
      console.log({ untold: waiters.filter((w) => !told(w)).length, shopErrors, meta: { ...meta, seed: undefined }, seats });
      throw err;
    });
    expect(shopErrors).toEqual([]);
    // Sold out: every seat paid, and in exactly one buyer's order.
    await eventually(() => waiters.reduce((n, w) => n + w.bought.length, 0) === seatIds.length || undefined, 30_000, "every seat bought");
    const state = await env.redis.hgetall(env.keys.event(eventId).state);
    expect(Object.keys(state)).toHaveLength(seatIds.length);
    expect(Object.values(state).every((v) => v.startsWith("P|"))).toBe(true);
    const bought = waiters.flatMap((w) => w.bought);
    expect(new Set(bought).size).toBe(seatIds.length);

    // Nobody admitted after the sell-out.
    const admittedAtSellOut = Number(await env.redis.hget(env.keys.room(eventId).meta, "admittedTotal"));
    await new Promise((r) => setTimeout(r, 1500));
    clearInterval(sampler);
    expect(Number(await env.redis.hget(env.keys.room(eventId).meta, "admittedTotal"))).toBe(admittedAtSellOut);
    const admitted = waiters.filter((w) => w.log.some((m) => m.event === "admitted"));
    const soldOutTold = waiters.filter((w) => w.log.some((m) => m.event === "sold_out"));
    expect(admitted.length).toBe(admittedAtSellOut);
    expect(admitted.length + soldOutTold.length).toBeGreaterThanOrEqual(WAITERS);
    for (const w of admitted) expect(w.log.filter((m) => m.event === "admitted").length).toBe(1);

    // Pacing: a tick that admitted left no more buyers with an empty hold than free seats, and no
    // tick admitted while they already covered the free seats. (Between admissions, buyers already
    // holding seats may take more, so that bound can pass for a while: printed, not asserted.)
    expect(samples.length).toBeGreaterThan(10);
    let overFree = 0;
    for (const [k, s] of samples.entries()) {
      if (s.empty > Math.max(0, s.free)) overFree++;
      if (k > 0 && s.admitted > samples[k - 1]!.admitted) expect(s.empty).toBeLessThanOrEqual(Math.max(0, s.free));
    }

    // Places only ever go down.
    for (const w of waiters) {
      const places = w.log.filter((m) => m.event === "position").map((m) => m.payload.position as number);
      for (let k = 1; k < places.length; k++) expect(places[k]).toBeLessThanOrEqual(places[k - 1]!);
    }

    // The draw, verified as a buyer would: the commitment, and every entrant's key in the published list.
    const draw = await rooms.drawResult(eventId);
    expect(draw).not.toBeNull();
    expect(commitmentOf(draw!.seed)).toBe(room.commitment);
    expect(draw!.keys).toEqual([...draw!.keys].sort());
    expect(draw!.keys).toHaveLength(WAITERS);
    const place = new Map(waiters.map((w) => [w.userId, draw!.keys.indexOf(drawKey(draw!.seed, w.userId))]));
    for (const w of waiters) expect(place.get(w.userId)).toBeGreaterThanOrEqual(0);
    // Admissions followed the draw: each tick's batch (one turn end) comes after the previous one in key order.
    const batches = new Map<number, number[]>();
    for (const w of admitted) {
      const until = w.log.find((m) => m.event === "admitted")!.payload.expires_at as number;
      batches.set(until, [...(batches.get(until) ?? []), place.get(w.userId)!]);
    }
    const ordered = [...batches.entries()].sort((a, b) => a[0] - b[0]).map(([, ps]) => ps);
    for (let k = 1; k < ordered.length; k++) expect(Math.min(...ordered[k]!)).toBeGreaterThan(Math.max(...ordered[k - 1]!));
    expect(Math.max(...admitted.map((w) => place.get(w.userId)!))).toBe(admitted.length - 1);
    // Arrival order and place are uncorrelated (|rho| of 300 random places is below 0.25 with p > 0.9999).
    const rho = spearman(waiters.map((w) => w.i), waiters.map((w) => place.get(w.userId)!));
    expect(Math.abs(rho)).toBeLessThan(0.25);

    // Told after the last buy began, within about a second (the bench measures it; printed here).
    const soldOutLatency = soldOutTold.map((w) => w.at[w.at.length - 1]! - soldAt);
    for (const ms of soldOutLatency) expect(ms).toBeGreaterThanOrEqual(0);
    console.log(
      `[waiting room] ${WAITERS} waiters, ${seatIds.length} seats: ${admitted.length} admitted in ${ordered.length} batches, ${soldOutTold.length} told sold out; ` +
        `spearman(arrival, place) = ${rho.toFixed(3)}; ${samples.length} samples, max buyers with empty holds ${Math.max(...samples.map((s) => s.empty))}, above the free seats in ${overFree} of ${samples.length} samples; ` +
        `sold_out told ${Math.min(...soldOutLatency)}–${Math.max(...soldOutLatency)} ms after the last payment`,
    );
  });
});
