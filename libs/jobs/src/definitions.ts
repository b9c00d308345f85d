import { z } from "zod";

/*
 * Every background job: one definition (queue, name, payload schema) shared by the producers and
 * the worker, so the two cannot disagree on a job's name or payload. The worker's handler for each
 * lives in apps/worker/src/jobs/.
 * BullMQ refuses custom job ids containing `:`, so every `jobId` below joins its parts with `_`.
 */

/** The queue of hold jobs: abandonment checks and the hold schedulers. */
export const HOLDS_QUEUE = "holds";

export const holdAbandonJob = {
  queue: HOLDS_QUEUE,
  name: "hold-abandon",
  schema: z.object({ eventId: z.string(), userId: z.string() }),
  jobId: (d: { eventId: string; userId: string }, at: number) => `abandon_${d.eventId}_${d.userId}_${at}`,
} as const;

/**
 * Hold expiry (no delayed job per hold: one would cost 46 µs of Redis per lock and stay behind
 * when a hold ended early): a Job Scheduler that releases the due holds of every event the
 * cluster-wide index (`keys.holdEvents`) names as due. Short, so a `deleted` goes out well within a
 * second of its deadline; an idle tick is one ZRANGEBYSCORE.
 */
export const holdSweepJob = {
  queue: HOLDS_QUEUE,
  name: "hold-sweep",
  schema: z.object({}).passthrough(),
  schedulerId: "hold-sweep",
  everyMs: 250,
} as const;

/**
 * Abandoned holds whose user's node died without saying so (docs/reliability.md, round one,
 * finding 9): every event with holds is walked and the holds no node vouches for any more are
 * released after the grace.
 */
export const holdAbandonScanJob = {
  queue: HOLDS_QUEUE,
  name: "hold-abandon-scan",
  schema: z.object({}).passthrough(),
  schedulerId: "hold-abandon-scan",
  everyMs: 2000,
} as const;

/**
 * The net behind the cluster-wide index of events with holds: every current event (PostgreSQL) is
 * loaded into Redis if missing and its index entry lowered to its earliest hold, in case a node died
 * between a lock and its index write.
 */
export const holdReindexJob = {
  queue: HOLDS_QUEUE,
  name: "hold-reindex",
  schema: z.object({}).passthrough(),
  schedulerId: "hold-reindex",
  everyMs: 30_000,
} as const;
export type HoldAbandonData = z.infer<typeof holdAbandonJob.schema>;

export const ORDERS_QUEUE = "orders";

/** A pending order's payment window closes: expire it (a no-op when it was paid or canceled meanwhile). */
export const orderExpiryJob = {
  queue: ORDERS_QUEUE,
  name: "order-expiry",
  schema: z.object({ orderId: z.string().uuid() }),
  jobId: (d: { orderId: string }) => `order-expiry_${d.orderId}`,
} as const;

/** Rebuild the reserved and paid seats in Redis from PostgreSQL: one event, or every event when absent. */
export const seatsRebuildJob = {
  queue: ORDERS_QUEUE,
  name: "seats-rebuild",
  schema: z.object({ eventId: z.string().uuid().optional() }),
  /** The same rebuild, every minute for every current event: the reconciliation that heals what a crash or a stale read left. */
  schedulerId: "seats-reconcile",
  everyMs: 60_000,
} as const;

/** The net behind the order expiry jobs: pending orders past their window are expired. */
export const ordersSweepJob = {
  queue: ORDERS_QUEUE,
  name: "orders-sweep",
  schema: z.object({}).passthrough(),
  schedulerId: "orders-sweep",
  everyMs: 2000,
} as const;

export type OrderExpiryData = z.infer<typeof orderExpiryJob.schema>;
