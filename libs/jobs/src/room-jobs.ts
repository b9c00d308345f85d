import { Queue, type JobsOptions } from "bullmq";
import type { Redis } from "@seatdrop/redis";
import { ROOMS_QUEUE, roomActivateJob, roomCloseJob, type RoomJobData } from "./chat-definitions.ts";

const jobOptions: JobsOptions = {
  removeOnComplete: true,
  removeOnFail: 1000,
  attempts: 5,
  backoff: { type: "exponential", delay: 500 },
};

/** The producer side of the room jobs, used by the API (event created or moved) and the worker (at start). */
export class RoomJobs {
  readonly queue: Queue;
  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue(ROOMS_QUEUE, { connection, prefix });
  }

  /**
   * Schedules a room's activation and close. The ids are deterministic, so scheduling the same times
   * twice adds nothing, and a restart that schedules every room again is harmless.
   */
  async schedule(o: { eventId: string; activateAt: Date; closeAt: Date }): Promise<void> {
    const now = Date.now();
    const activate: RoomJobData = { eventId: o.eventId, at: o.activateAt.getTime() };
    const close: RoomJobData = { eventId: o.eventId, at: o.closeAt.getTime() };
    await Promise.all([
      this.queue.add(roomActivateJob.name, activate, { ...jobOptions, jobId: roomActivateJob.jobId(activate), delay: Math.max(0, activate.at - now) }),
      this.queue.add(roomCloseJob.name, close, { ...jobOptions, jobId: roomCloseJob.jobId(close), delay: Math.max(0, close.at - now) }),
    ]);
  }

  /** Drops the jobs of a schedule that no longer holds (they would find nothing to do anyway). */
  async unschedule(o: { eventId: string; activateAt: Date; closeAt: Date }): Promise<void> {
    await Promise.all([
      this.queue.remove(roomActivateJob.jobId({ eventId: o.eventId, at: o.activateAt.getTime() })),
      this.queue.remove(roomCloseJob.jobId({ eventId: o.eventId, at: o.closeAt.getTime() })),
    ]);
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
