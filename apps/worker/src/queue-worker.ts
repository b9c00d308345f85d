import { Worker, type Job } from "bullmq";
import { metrics, type Logger } from "@seatdrop/observability";
import type { Redis } from "@seatdrop/redis";

/** What a queue's jobs are handled by, one handler per job name. */
export type JobHandlers = Record<string, (job: Job) => Promise<unknown>>;

/**
 * The one place a BullMQ Worker is made in this app: jobs are dispatched by name (an unknown name
 * fails the job, so a producer on a newer version is noticed instead of silently dropped), and
 * every failure is logged and counted in `sdc_queue_job_failures_total` by queue.
 */
export function startQueueWorker(
  queueName: string,
  handlers: JobHandlers,
  o: { connection: Redis; prefix: string; concurrency: number; logger: Logger },
): Worker {
  const worker = new Worker(
    queueName,
    async (job) => {
      const handle = Object.hasOwn(handlers, job.name) ? handlers[job.name] : undefined;
      if (!handle) throw new Error(`unknown job ${job.name}`);
      return handle(job);
    },
    { connection: o.connection, prefix: o.prefix, concurrency: o.concurrency },
  );
  worker.on("failed", (job, err) => {
    metrics.queueJobsFailed.inc({ queue: queueName });
    o.logger.error({ err, queue: queueName, job: job?.name, id: job?.id }, "job failed");
  });
  worker.on("error", (err) => o.logger.error({ err, queue: queueName }, "worker error"));
  return worker;
}
