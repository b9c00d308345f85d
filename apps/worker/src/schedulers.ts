import { Queue } from "bullmq";
import { dropError, type Logger } from "@seatdrop/observability";
import type { Redis } from "@seatdrop/redis";

/** One Job Scheduler the worker keeps alive. */
export interface SchedulerSpec {
  queue: string;
  schedulerId: string;
  /** The job each iteration adds. */
  name: string;
  everyMs: number;
}

/**
 * Keeps the worker's Job Schedulers in Redis. They live only there, so a Redis restart or flush
 * erases them, and without them pending orders stop expiring until the worker is restarted by hand
 * (docs/reliability.md, round one, finding 10). Each is (re)created when missing: at start,
 * whenever the connection becomes ready again (a Redis restart), and on a timer (a flush keeps the
 * connection up).
 */
export class SchedulerKeeper {
  private readonly queues = new Map<string, Queue>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<number> | undefined;
  // A failed check on reconnect is logged and counted; the timer checks again.
  private readonly onReady = () => void this.check().catch(dropError("scheduler_check", this.o.logger));

  constructor(
    private readonly o: { connection: Redis; prefix: string; specs: SchedulerSpec[]; checkEveryMs: number; logger: Logger },
  ) {
    for (const s of o.specs) if (!this.queues.has(s.queue)) this.queues.set(s.queue, new Queue(s.queue, { connection: o.connection, prefix: o.prefix }));
  }

  /** Writes every scheduler now (so a changed interval takes effect on deploy) and keeps checking. */
  async start(): Promise<void> {
    for (const s of this.o.specs) await this.upsert(s);
    this.o.connection.on("ready", this.onReady);
    this.timer = setInterval(this.onReady, this.o.checkEveryMs);
    this.timer.unref();
  }

  /** Creates every missing scheduler; returns how many it created. Concurrent calls share one run. */
  check(): Promise<number> {
    this.checking ??= this.createMissing().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async createMissing(): Promise<number> {
    let created = 0;
    for (const s of this.o.specs) {
      const q = this.queues.get(s.queue)!;
      try {
        if (await q.getJobScheduler(s.schedulerId)) continue;
        await this.upsert(s);
        created++;
        this.o.logger.warn({ scheduler: s.schedulerId, queue: s.queue }, "job scheduler was missing; created");
      } catch (err) {
        this.o.logger.error({ err, scheduler: s.schedulerId }, "could not check job scheduler; retrying on the next check");
      }
    }
    return created;
  }

  private async upsert(s: SchedulerSpec): Promise<void> {
    await this.queues
      .get(s.queue)!
      .upsertJobScheduler(s.schedulerId, { every: s.everyMs }, { name: s.name, data: {}, opts: { removeOnComplete: true, removeOnFail: 100 } });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.o.connection.off("ready", this.onReady);
    await this.checking?.catch(() => {}); // shutting down: a check still running is only waited for, its failure was counted
    for (const q of this.queues.values()) await q.close();
  }
}
