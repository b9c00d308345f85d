import { z } from "zod";

/**
 * The chat room jobs: one definition each, shared by the producers (API, worker) and the
 * worker's handlers in apps/worker/src/jobs/room-*.ts. BullMQ refuses `:` in custom job ids, so ids
 * join their parts with `_`.
 */
export const ROOMS_QUEUE = "chat-rooms";

const roomAt = z.object({ eventId: z.string().uuid(), at: z.number().int() });
export type RoomJobData = z.infer<typeof roomAt>;

/**
 * Opens an event's room at `at` (start − CHAT_ACTIVATE_BEFORE_MS). The id carries the time: when
 * the event moves, the new time makes a new job and the old one finds its time no longer current
 * and does nothing.
 */
export const roomActivateJob = {
  queue: ROOMS_QUEUE,
  name: "room-activate",
  schema: roomAt,
  jobId: (d: RoomJobData) => `room-activate_${d.eventId}_${d.at}`,
} as const;

/** Closes an event's room at its end and archives its messages; same id rule as activation. */
export const roomCloseJob = {
  queue: ROOMS_QUEUE,
  name: "room-close",
  schema: roomAt,
  jobId: (d: RoomJobData) => `room-close_${d.eventId}_${d.at}`,
} as const;

/**
 * The safety net behind the per-room jobs (a lost job, a Redis flush, a worker that was down at the
 * time): every room whose status its schedule contradicts is put right.
 */
export const roomReconcileJob = {
  queue: ROOMS_QUEUE,
  name: "room-reconcile",
  schema: z.object({}).passthrough(),
  schedulerId: "room-reconcile",
  everyMs: 30_000,
} as const;
