import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { commitmentOf, WaitingRooms } from "@seatdrop/queue";
import { PhxClient, createUser, eventually, push, seatIdsGrid, startCluster, type Received, type TestCluster } from "./support/cluster.ts";
import { freePort, killHard, startRedis } from "./support/private-redis.ts";
import { createTestEnv, type TestEnv } from "./support/test-env.ts";
import { createRoomEvent } from "./support/waiting-room.ts";

/**
 * The waiting room when Redis restarts (killed with -9, a fresh empty one started on the same
 * port): PostgreSQL keeps the room's settings, its secret seed and the published draw; each ws-node
 * puts back the places, admissions and pre-queue entries of the waiters it holds. So places are
 * kept (not re-drawn), the commitment still holds, and admitted buyers' passes still lock.
 */
let port: number;
let redis: ChildProcess;
let env: TestEnv;
let cluster: TestCluster;
const clients: PhxClient[] = [];
const client = (node: number, token: string) => {
  const c = new PhxClient(cluster.nodes[node]!.port, token);
  clients.push(c);
  return c;
};

beforeAll(async () => {
  port = await freePort();
  redis = await startRedis(port);
  env = await createTestEnv({ REDIS_URL: `redis://127.0.0.1:${port}`, QUEUE_TICK_MS: "100", QUEUE_POSITION_MS: "200", WS_HOLD_SWEEP_MS: "200" });
  cluster = await startCluster(env, { nodes: 2, worker: false });
}, 60_000);
afterAll(async () => {
  await Promise.all(clients.map((c) => c.disconnect()));
  await cluster?.close();
  await env?.close();
  await killHard(redis);
}, 60_000);

async function restartRedis(): Promise<void> {
  await killHard(redis);
  redis = await startRedis(port);
}

/** Waits until an async condition holds (a Redis read may fail while Redis restarts: not yet). */
function until<T>(check: () => Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  return vi.waitFor(
    async () => {
      const v = await check().catch(() => undefined);
      if (v === undefined || v === false) throw new Error(`timed out waiting for ${what}`);
      return v;
    },
    { timeout: ms, interval: 50 },
  );
}

const rooms = () => new WaitingRooms({ redis: env.redis, keys: env.keys, config: env.config, logger: createLogger("test", "silent"), db: env.db.db });
const soon = (ms: number) => new Date(Date.now() + ms);

describe("a Redis restart and the waiting room", () => {
  it("during the pre-queue: every entrant is put back and drawn with the committed seed", { timeout: 60_000 }, async () => {
    const { eventId, room } = await createRoomEvent(env, seatIdsGrid(1, 10), { opensAt: soon(-1000), salesOpenAt: soon(7000) });
    const users = await Promise.all(Array.from({ length: 20 }, () => createUser(env)));
    const joins = await Promise.all(users.map((u, i) => client(i % 2, u.token).join(`queue:${eventId}`)));
    for (const j of joins) expect(j.reply).toMatchObject({ state: "pre_queue", commitment: room.commitment });
    expect(await env.redis.hlen(env.keys.room(eventId).pre)).toBe(20);

    await restartRedis();
    await until(async () => (await env.redis.hlen(env.keys.room(eventId).pre)) === 20, 15_000, "the pre-queue put back");
    const draw = await until(async () => (await rooms().drawResult(eventId)) ?? undefined, 20_000, "the draw");
    expect(commitmentOf(draw.seed)).toBe(room.commitment);
    expect(draw.keys).toHaveLength(20);
    await eventually(() => joins.every((j) => j.log.some((m) => m.event === "position" || m.event === "admitted")), 15_000, "every entrant placed after the draw");
    console.log(`[waiting room × redis restart] pre-queue: 20 of 20 entrants put back and drawn; commitment holds`);
  });

  it("while running: places keep their order, admissions their turn, and passes still lock", { timeout: 60_000 }, async () => {
    const { eventId } = await createRoomEvent(env, seatIdsGrid(1, 10), { opensAt: soon(-2000), salesOpenAt: soon(-1000), maxActive: 3 });
    const r = rooms();
    await r.ensureLoaded(eventId);
    await r.draw(eventId);
    const users = await Promise.all(Array.from({ length: 12 }, () => createUser(env)));
    const joins: { log: Received[]; reply: Record<string, unknown> }[] = [];
    for (const [i, u] of users.entries()) joins.push(await client(i % 2, u.token).join(`queue:${eventId}`));
    const admittedOf = (k: number) => joins[k]!.log.find((m) => m.event === "admitted")?.payload as { pass: string; expires_at: number } | undefined;
    await eventually(() => [0, 1, 2].every((k) => admittedOf(k)), 10_000, "three admitted (max_active)");
    const q = env.keys.room(eventId);
    const orderBefore = await env.redis.zrange(q.queue, 0, -1);
    const admittedBefore = await env.redis.zrange(q.admitted, 0, -1, "WITHSCORES");
    expect(orderBefore).toEqual(users.slice(3).map((u) => u.id));

    await restartRedis();
    await until(async () => (await env.redis.zcard(q.queue)) === 9 && (await env.redis.zcard(q.admitted)) === 3, 15_000, "places and admissions put back").catch(async (err: unknown) => {
      console.log({ queue: await env.redis.zrange(q.queue, 0, -1, "WITHSCORES"), admitted: await env.redis.zrange(q.admitted, 0, -1, "WITHSCORES"), orderBefore, admittedBefore, meta: await env.redis.hgetall(q.meta) });
      throw err;
    });
    expect(await env.redis.zrange(q.queue, 0, -1)).toEqual(orderBefore);
    expect(await env.redis.zrange(q.admitted, 0, -1, "WITHSCORES")).toEqual(admittedBefore);
    // Someone new joins behind everyone who was there.
    const late = await createUser(env);
    expect((await client(0, late.token).join(`queue:${eventId}`)).reply).toMatchObject({ state: "waiting", position: 10 });
    // An admitted buyer's pass still locks (the seat map comes back from PostgreSQL).
    const map = await client(1, users[0]!.token).join(`seats:${eventId}`, { changes: true, pass: admittedOf(0)!.pass });
    expect((await push(map.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    // Nobody's place went up.
    for (const j of joins) {
      const places = [j.reply.position as number | null, ...j.log.filter((m) => m.event === "position").map((m) => m.payload.position as number)].filter((p): p is number => typeof p === "number");
      for (let k = 1; k < places.length; k++) expect(places[k]).toBeLessThanOrEqual(places[k - 1]!);
    }
    console.log(`[waiting room × redis restart] running: 9 of 9 places kept in order, 3 of 3 admissions kept, new joiner at 10, pass locks`);
  });
});
