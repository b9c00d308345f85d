import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { orders, seatAudit } from "@seatdrop/db";
import { OrderJobs } from "@seatdrop/jobs";
import { createLogger } from "@seatdrop/observability";
import { createOrder, type OrdersContext } from "@seatdrop/orders";
import { connectRedis } from "@seatdrop/redis";
import { SeatService } from "@seatdrop/seats";
import { startWorker, type WorkerHandle } from "../src/worker.ts";
import { createEvent, createUser, seatIdsGrid } from "../../../test/support/cluster.ts";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

/**
 * docs/reliability.md, round one, fault "the worker down while holds and orders expire": pending
 * orders whose payment window closes while no worker runs stay reserved (nothing else may expire an
 * order: its seats are the buyer's until then), and are expired exactly once when the worker comes
 * back: each seat released once, each order audited once.
 */
let env: TestEnv;
let worker: WorkerHandle | undefined;
let bull: ReturnType<typeof connectRedis>;
let jobs: OrderJobs;
beforeAll(async () => {
  env = await createTestEnv();
  bull = connectRedis(env.config, "bullmq");
  jobs = new OrderJobs(bull, env.keys.bullPrefix);
});
afterAll(async () => {
  await worker?.close();
  await jobs.close();
  bull.disconnect();
  await env.close();
});

describe("orders expiring while the worker is down", () => {
  it("stay reserved until it returns, then expire once each: seats released once, one audit row per seat", async () => {
    const logger = createLogger("test", "silent");
    const seats = new SeatService({ redis: env.redis, keys: env.keys, config: env.config, logger, db: env.db.db });
    const ctx: OrdersContext = { db: env.db.db, seats, config: env.config, logger, jobs };
    const eventId = await createEvent(env, seatIdsGrid(1, 3), { paymentWindowMs: 300 });
    const ids: string[] = [];
    for (const seatId of ["A_1", "A_2", "A_3"]) {
      const u = await createUser(env);
      await seats.lock({ eventId, userId: u.id, seatId });
      ids.push((await createOrder(ctx, { userId: u.id, eventId })).id);
    }
    // Past every payment window, with no worker: nothing expires them.
    await new Promise((r) => setTimeout(r, 800));
    const pending = await env.db.db.select({ status: orders.status, expiresAt: orders.expiresAt }).from(orders).where(eq(orders.eventId, eventId));
    expect(pending.map((o) => o.status)).toEqual(["pending", "pending", "pending"]);
    expect([...(await seats.snapshot({ eventId })).taken.values()].map((t) => t.state)).toEqual(["reserved", "reserved", "reserved"]);
    const seqBefore = await seats.currentSeq(eventId);

    // How far past their windows the orders are when the worker starts (printed, not asserted).
    const startedAt = Date.now();
    const pastWindows = pending.map((o) => startedAt - o.expiresAt.getTime()).sort((a, b) => a - b);
    worker = await startWorker({ config: env.config, logger });
    await expect
      .poll(async () => (await env.db.db.select({ status: orders.status }).from(orders).where(eq(orders.eventId, eventId))).map((o) => o.status).sort(), { timeout: 15_000, interval: 100 })
      .toEqual(["expired", "expired", "expired"]);
    const expiredIn = Date.now() - startedAt;
    // Let any second path (job and sweep both run) have its go, then count.
    await new Promise((r) => setTimeout(r, 2500));
    expect((await seats.snapshot({ eventId })).taken.size).toBe(0);
    const released = (await seats.readLog(eventId, seqBefore + 1)) ?? [];
    expect(released.filter((e) => e.t === "unreserved").map((e) => e.seat).sort()).toEqual(["A_1", "A_2", "A_3"]);
    for (const id of ids) {
      const rows = await env.db.db.select().from(seatAudit).where(and(eq(seatAudit.orderId, id), eq(seatAudit.action, "expired")));
      expect(rows).toHaveLength(1);
    }
    console.log(
      `worker down: ${ids.length} orders of a 300 ms payment window, ${pastWindows[0]}–${pastWindows[pastWindows.length - 1]} ms past their windows when the worker started; all expired within ${expiredIn} ms of its start, ${released.filter((e) => e.t === "unreserved").length} seats released, audit rows per order 1`,
    );
  }, 40_000);
});
