import { eq } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDb, orders, type DbHandle } from "@seatdrop/db";
import { createLogger } from "@seatdrop/observability";
import { buildApp, type ApiApp } from "../src/app.ts";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";
import { createEvent, createUser, seatIdsGrid, startCluster, type TestCluster } from "../../../test/support/cluster.ts";
import { PgProxy } from "../../../test/support/pg-proxy.ts";
import { RawPhx, phxUrl } from "../../../test/support/raw-phx.ts";

/**
 * docs/reliability.md, round one, finding 13: during a PostgreSQL outage orders hung past 15 s, and
 * most were then created 0.7–12 s after their client had given up, reserving seats nobody heard of;
 * the rest and the seat-map route answered a generic 500. Here the API reaches PostgreSQL through a
 * proxy this test cuts and heals (the ws-nodes keep their direct connection: locks keep working).
 */
const DEADLINE_MS = 1500;
let env: TestEnv;
let cluster: TestCluster;
let proxy: PgProxy;
let apiDb: DbHandle;
let app: ApiApp;
const raws: RawPhx[] = [];

beforeAll(async () => {
  env = await createTestEnv({ ORDER_DEADLINE_MS: String(DEADLINE_MS) });
  cluster = await startCluster(env, { worker: false });
  const url = new URL(env.config.DATABASE_URL);
  proxy = new PgProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.port = String(await proxy.start());
  apiDb = connectDb(url.toString(), { max: 4 });
  app = buildApp({ config: env.config, db: apiDb, redis: env.redis, keys: env.keys, logger: createLogger("outage-test", "silent"), seats: cluster.seats });
  await app.ready();
});
afterAll(async () => {
  raws.forEach((r) => r.close());
  await app.close();
  await proxy.close();
  await apiDb.close().catch(() => {});
  await cluster.close();
  await env.close();
});

/** A buyer holding `seats` of a new event, with the API's caches warm (its token checked once). */
async function buyerHolding(seats: string[]) {
  const eventId = await createEvent(env, seatIdsGrid(1, 4));
  const user = await createUser(env);
  const c = new RawPhx(phxUrl(cluster.nodes[0]!.port, { token: user.token }));
  raws.push(c);
  await c.opened();
  const { joinRef } = await c.join(`seats:${eventId}`);
  for (const seat of seats) expect((await c.push(joinRef, `seats:${eventId}`, "lock", { seat })).status).toBe("ok");
  expect((await app.inject({ method: "GET", url: "/api/users/me/notifications", headers: { authorization: `Bearer ${user.token}` } })).statusCode).toBe(200);
  await expect.poll(() => env.redis.exists(env.keys.deniedTokensLoaded)).toBe(1);
  return { eventId, user, socket: c, joinRef };
}

const order = (token: string, eventId: string) => app.inject({ method: "POST", url: "/api/orders", headers: { authorization: `Bearer ${token}` }, payload: { event_id: eventId } });
/** The client's patience: it gives up well after the API's deadline. */
const orGiveUp = <T>(p: Promise<T>) => Promise.race([p, new Promise<"gave up">((r) => setTimeout(() => r("gave up"), DEADLINE_MS * 3))]);
const ordersOf = (userId: string) => env.db.db.select().from(orders).where(eq(orders.userId, userId));
/** Waits until the API's pool answers through the healed proxy again, so every held-back statement has run. */
async function healed(): Promise<void> {
  proxy.heal();
  await expect.poll(async () => (await apiDb.sql`select 1 as ok`.catch(() => []))[0]?.ok, { timeout: 15_000 }).toBe(1);
  await new Promise((r) => setTimeout(r, 500));
}

/** Figures of the last run, printed as one line. */
const figures: string[] = [];

describe("orders while PostgreSQL is unreachable", () => {
  afterAll(() => console.log(`PostgreSQL cut (deadline ${DEADLINE_MS} ms): ${figures.join("; ")}`));
  it("answer 503 with Retry-After within the deadline, create nothing after the heal, and the seat map says 503 too; locks keep working", async () => {
    const b = await buyerHolding(["A_1", "A_2"]);
    proxy.cut();
    const seen: string[] = [];
    try {
      const sentAt = Date.now();
      const res = await orGiveUp(order(b.user.token, b.eventId));
      const answeredIn = Date.now() - sentAt;
      expect(res).not.toBe("gave up");
      if (res === "gave up") return;
      expect(res.statusCode).toBe(503);
      expect(res.headers["retry-after"]).toBe("2");
      expect(res.json()).toMatchObject({ error: "database_unavailable" });
      seen.push(`order ${res.statusCode} ${String(res.json().error)} (Retry-After ${String(res.headers["retry-after"])}) in ${answeredIn} ms`);
      const mapAt = Date.now();
      const map = await orGiveUp(app.inject({ method: "GET", url: `/api/events/${b.eventId}/seats` }));
      expect(map).not.toBe("gave up");
      if (map !== "gave up") {
        const mapIn = Date.now() - mapAt;
        expect(map.statusCode).toBe(503);
        expect(map.headers["retry-after"]).toBe("2");
        seen.push(`seat map ${map.statusCode} in ${mapIn} ms`);
      }
      const lock = await b.socket.push(b.joinRef, `seats:${b.eventId}`, "lock", { seat: "A_3" });
      expect(lock.status).toBe("ok");
      seen.push(`a lock meanwhile ${lock.status}`);
    } finally {
      await healed();
    }
    expect(await ordersOf(b.user.id)).toHaveLength(0);
    // Not reserved for an order nobody heard of.
    const snap = await cluster.seats.snapshot({ eventId: b.eventId });
    for (const seat of ["A_1", "A_2"]) expect(snap.taken.get(seat)?.state).not.toBe("reserved");
    const reserved = ["A_1", "A_2"].filter((seat) => snap.taken.get(seat)?.state === "reserved").length;
    figures.push(`cut before the order: ${seen.join(", ")}; after the heal ${(await ordersOf(b.user.id)).length} orders, ${reserved} seats reserved`);
  });

  it("a cut in the middle of the order's transaction: 503 for the client, and the held-back statements cannot commit after the heal", async () => {
    const b = await buyerHolding(["A_1"]);
    // Stall the order's transaction inside PostgreSQL (its insert waits for this lock), cut the
    // network while it waits, then let PostgreSQL finish the insert: the rest of the transaction,
    // COMMIT included, is held back by the cut until after the client was answered.
    const locker = postgres(env.config.DATABASE_URL, { max: 1, onnotice: () => {} });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const tx = locker.begin(async (sql) => {
      await sql`lock table order_items in exclusive mode`;
      locked();
      await held;
    });
    await isLocked;
    let res: Awaited<ReturnType<typeof order>> | "gave up";
    let answeredIn = NaN;
    try {
      const sentAt = Date.now();
      const pending = order(b.user.token, b.eventId).finally(() => (answeredIn = Date.now() - sentAt));
      const waiting = async () => (await env.db.sql`select count(*)::int as n from pg_locks where relation = 'order_items'::regclass and not granted`)[0]!.n as number;
      await expect.poll(waiting, { timeout: 10_000 }).toBeGreaterThan(0);
      proxy.cut();
      release();
      await tx;
      res = await orGiveUp(pending);
    } finally {
      release();
      await healed();
      await locker.end();
    }
    expect(res).not.toBe("gave up");
    if (res !== "gave up") {
      expect(res.statusCode).toBe(503);
      expect(res.json().error).toBe("database_unavailable");
    }
    expect(await ordersOf(b.user.id)).toHaveLength(0);
    figures.push(`cut inside the order's transaction: ${res === "gave up" ? "no answer" : `${res.statusCode} ${String(res.json().error)}`} ${answeredIn} ms after it was sent; after the heal ${(await ordersOf(b.user.id)).length} orders`);
  });

  it("after the heal, orders work again", async () => {
    const b = await buyerHolding(["A_4"]);
    const res = await order(b.user.token, b.eventId);
    expect(res.statusCode).toBe(201);
    expect(await ordersOf(b.user.id)).toHaveLength(1);
    figures.push(`healed: an order ${res.statusCode}`);
  });
});
