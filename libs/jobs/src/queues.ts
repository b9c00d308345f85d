import { Queue } from "bullmq";
import type { Redis } from "@seatdrop/redis";
import { HOLDS_QUEUE, ORDERS_QUEUE, holdAbandonJob, orderExpiryJob, seatsRebuildJob, type HoldAbandonData } from "./definitions.ts";

/** The producer side of the hold jobs, used by ws-nodes: only the abandonment check (hold expiry needs no job). */
export class HoldJobs {
  readonly queue: Queue;
  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue(HOLDS_QUEUE, { connection, prefix });
  }

  /** Schedules the abandonment check of a hold whose user's last connection closed. */
  async scheduleAbandonCheck(data: HoldAbandonData, graceMs: number): Promise<void> {
    const at = Date.now();
    await this.queue.add(holdAbandonJob.name, data, {
      jobId: holdAbandonJob.jobId(data, at),
      delay: graceMs + 50,
      removeOnComplete: true,
      removeOnFail: 1000,
      attempts: 5,
      backoff: { type: "exponential", delay: 200 },
    });
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}

/** The producer side of the order jobs, used by the API. */
export class OrderJobs {
  readonly queue: Queue;
  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue(ORDERS_QUEUE, { connection, prefix });
  }

  async scheduleExpiry(orderId: string, at: Date): Promise<void> {
    await this.queue.add(orderExpiryJob.name, { orderId }, {
      jobId: orderExpiryJob.jobId({ orderId }),
      delay: Math.max(0, at.getTime() - Date.now()),
      removeOnComplete: true,
      removeOnFail: 1000,
      attempts: 10,
      backoff: { type: "exponential", delay: 500 },
    });
  }

  async requestRebuild(eventId?: string): Promise<string> {
    const job = await this.queue.add(seatsRebuildJob.name, eventId ? { eventId } : {}, { removeOnComplete: 100, removeOnFail: 100 });
    return job.id!;
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
