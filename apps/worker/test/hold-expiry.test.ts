import { Queue } from "bullmq";
import { afterAll, describe, expect, it, vi } from "vitest";
import { HOLDS_QUEUE, ORDERS_QUEUE, ROOMS_QUEUE, holdSweepJob, ordersSweepJob, roomReconcileJob } from "@seatdrop/jobs";
import { PhxClient, createEvent, createUser, firstLogged, push, seatIdsGrid } from "../../../test/support/cluster.ts";
import { startChildNode, type ChildNode } from "../../../test/support/child-node.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";

/**
 * The worker's side of hold expiry (no job per hold) and of docs/reliability.md, round one,
 * findings 9 and 10, against real processes. The nodes' own sweep is off here (WS_HOLD_SWEEP_MS=0),
 * so every release below is the worker's.
 */
const LIVE_WINDOW_MS = 900;
const world = useCluster(
  { WS_HOLD_SWEEP_MS: "0", WORKER_SCHEDULER_CHECK_MS: "200", WS_LIVE_WINDOW_MS: String(LIVE_WINDOW_MS), HOLD_RELOCK_COOLDOWN_MS: "0" },
  { nodes: 1 },
);
const children: ChildNode[] = [];
const extraClients: PhxClient[] = [];
afterAll(async () => {
  for (const c of extraClients) c.socket.disconnect();
  for (const c of children) await c.kill();
});

/** Polls an async condition until it holds, or fails after `ms`. */
function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  return vi.waitFor(
    async () => {
      if (!(await check())) throw new Error(`timed out waiting for ${what}`);
    },
    { timeout: ms, interval: 25 },
  );
}

const queue = (name: string) => new Queue(name, { connection: world.env.redis, prefix: world.env.keys.bullPrefix });
/** Names of the Job Schedulers' own jobs, the only jobs the holds queue should hold. */
const schedulerJobs = new Set(["hold-sweep", "hold-abandon-scan", "hold-reindex"]);

describe("hold expiry by the worker", () => {
  it("a hold released early leaves no job behind, and its event leaves the index once its old deadline passed", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 2), { holdTtlMs: 1000 });
    const u = await createUser(world.env);
    const c = await world.client(0, u.token).join(`seats:${eventId}`);
    expect((await push(c.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    expect(await world.env.redis.zscore(world.env.keys.holdEvents, eventId)).not.toBeNull();
    expect((await push(c.channel, "unlock", { seat: "A_1" })).status).toBe("ok");
    const k = world.env.keys.event(eventId);
    expect(await world.env.redis.zcard(k.holds)).toBe(0);
    const q = queue(HOLDS_QUEUE);
    try {
      const jobs = await q.getJobs(["delayed", "waiting", "active", "prioritized", "waiting-children"]);
      expect(jobs.filter((j) => !schedulerJobs.has(j.name)).map((j) => [j.name, j.data])).toEqual([]);
    } finally {
      await q.close();
    }
    await until(async () => (await world.env.redis.zscore(world.env.keys.holdEvents, eventId)) === null, 5000, "index entry gone");
    await new Promise((r) => setTimeout(r, 300)); // a few more sweeps
    expect(await world.env.redis.zscore(world.env.keys.holdEvents, eventId)).toBeNull();
  });

  it("many holds due together are all released, each with its unlocked event", async () => {
    const seatIds = seatIdsGrid(10, 40); // 400 seats, one hold each
    const eventId = await createEvent(world.env, seatIds, { holdTtlMs: 1500 });
    const seats = world.cluster.seats;
    for (let i = 0; i < seatIds.length; i += 50)
      await Promise.all(seatIds.slice(i, i + 50).map((seatId, j) => seats.lock({ eventId, userId: `bulk-${i + j}`, seatId })));
    const k = world.env.keys.event(eventId);
    expect(await world.env.redis.hlen(k.state)).toBe(400);
    // Read without scripts, which would release on read: only the worker may do it here.
    await until(async () => (await world.env.redis.hlen(k.state)) === 0, 15_000, "every hold released");
    expect(await world.env.redis.zcard(k.holds)).toBe(0);
    const log = await seats.readLog(eventId, 401);
    expect(log?.length).toBe(400);
    expect(new Set(log!.map((e) => `${e.t}:${e.why}`))).toEqual(new Set(["unlocked:expired"]));
    expect(new Set(log!.map((e) => e.seat)).size).toBe(400);
  });
});

describe("a ws-node killed with -9 (docs/reliability.md, round one, finding 9)", () => {
  it("its users' holds are released as abandoned a grace after its liveness ran out, not at their TTL", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 3), { holdGraceMs: 500, holdTtlMs: 600_000 });
    const [victim, watcher] = [await createUser(world.env), await createUser(world.env)];
    const child = await startChildNode(world.env, { overrides: { WS_LIVE_WINDOW_MS: String(LIVE_WINDOW_MS), WS_HOLD_SWEEP_MS: "0" } });
    children.push(child);
    const vc = new PhxClient(child.port, victim.token);
    extraClients.push(vc);
    const v = await vc.join(`seats:${eventId}`);
    expect((await push(v.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    const w = await world.client(0, watcher.token).join(`seats:${eventId}`);
    expect((await push(w.channel, "lock", { seat: "A_2" })).status).toBe("ok"); // a user whose node lives
    const killedAt = Date.now();
    await child.kill();
    vc.socket.disconnect();
    const un = await firstLogged(w.log, "unlocked", { where: (m) => m.payload.seat === "A_1", ms: 15_000 });
    expect(un.payload).toMatchObject({ seat: "A_1", reason: "abandoned" });
    console.log(`kill -9: the dead node's user's hold released ${Date.now() - killedAt} ms after the kill`);
    const snap = await world.cluster.seats.snapshot({ eventId });
    expect([...snap.taken.keys()]).toEqual(["A_2"]);
  });
});

describe("Job Schedulers (docs/reliability.md, round one, finding 10)", () => {
  it("a deleted scheduler is re-created, and so is every one after the worker's keys were flushed", async () => {
    const holds = queue(HOLDS_QUEUE);
    const orders = queue(ORDERS_QUEUE);
    const rooms = queue(ROOMS_QUEUE);
    try {
      expect(await holds.getJobScheduler(holdSweepJob.schedulerId)).toBeTruthy();
      await holds.removeJobScheduler(holdSweepJob.schedulerId);
      expect(await holds.getJobScheduler(holdSweepJob.schedulerId)).toBeFalsy();
      await until(async () => Boolean(await holds.getJobScheduler(holdSweepJob.schedulerId)), 5000, "hold sweep re-created");

      // A flush of everything BullMQ keeps (as a Redis restart without persistence does).
      let cursor = "0";
      do {
        const [next, found] = await world.env.redis.scan(cursor, "MATCH", `${world.env.keys.bullPrefix}:*`, "COUNT", 1000);
        cursor = next;
        if (found.length) await world.env.redis.del(...found);
      } while (cursor !== "0");
      await until(
        async () =>
          Boolean(await holds.getJobScheduler(holdSweepJob.schedulerId)) &&
          Boolean(await orders.getJobScheduler(ordersSweepJob.schedulerId)) &&
          Boolean(await rooms.getJobScheduler(roomReconcileJob.schedulerId)),
        5000,
        "every scheduler re-created",
      );
    } finally {
      await Promise.all([holds.close(), orders.close(), rooms.close()]);
    }
    // And the re-created sweep works: a hold still expires.
    const eventId = await createEvent(world.env, seatIdsGrid(1, 1), { holdTtlMs: 500 });
    await world.cluster.seats.lock({ eventId, userId: "after-flush", seatId: "A_1" });
    await until(async () => (await world.env.redis.hlen(world.env.keys.event(eventId).state)) === 0, 8000, "hold expired after the flush");
  });
});
