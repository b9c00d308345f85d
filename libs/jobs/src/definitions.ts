import { z } from "zod";

/**
 * Every background job: one definition (queue, name, payload schema) shared by the producers and
 * the worker (STYLE: trigger.dev). The worker's handler for each lives in apps/worker/src/jobs/.
 */
/** BullMQ refuses custom job ids containing `:`, so ids join their parts with `_`. */
export const HOLDS_QUEUE = "holds";

export const holdExpiryJob = {
  queue: HOLDS_QUEUE,
  name: "hold-expiry",
  schema: z.object({ eventId: z.string(), userId: z.string(), deadline: z.number().int() }),
  /** One job per hold deadline: an extension makes a new job; the old one then finds nothing to do. */
  jobId: (d: { eventId: string; userId: string; deadline: number }) => `expiry_${d.eventId}_${d.userId}_${d.deadline}`,
} as const;

export const holdAbandonJob = {
  queue: HOLDS_QUEUE,
  name: "hold-abandon",
  schema: z.object({ eventId: z.string(), userId: z.string() }),
  jobId: (d: { eventId: string; userId: string }, at: number) => `abandon_${d.eventId}_${d.userId}_${at}`,
} as const;

/** The sweep behind the per-hold jobs (DESIGN §3.3: jobs run late under load; the sweep and the scripts still hold the line). */
export const holdSweepJob = {
  queue: HOLDS_QUEUE,
  name: "hold-sweep",
  schema: z.object({}).passthrough(),
  schedulerId: "hold-sweep",
  everyMs: 2000,
} as const;

export type HoldExpiryData = z.infer<typeof holdExpiryJob.schema>;
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

export type OrderExpiryData = z.infer<typeof orderExpiryJob.schema>;
