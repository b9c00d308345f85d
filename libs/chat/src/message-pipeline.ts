import type { Db } from "@seatdrop/db";
import type { Logger } from "@seatdrop/observability";
import type { ChatBusMessageItem, ChatMessageView } from "@seatdrop/protocol";
import type { ChatBus } from "./chat-bus.ts";
import { ChatError } from "./errors.ts";
import { storeMessages, type MessageToStore } from "./messages.ts";

interface Pending extends MessageToStore {
  origin: string;
  resolve: (v: ChatMessageView) => void;
  reject: (e: unknown) => void;
}

/**
 * One room's message path on one node (issue 11): group commit.
 *
 * Profiled before: every message was its own transaction (BEGIN, room FOR SHARE, ticket check,
 * INSERT, COMMIT) on a node pool of two connections, so a room's acks stayed flat near 100/s
 * whatever the offered rate, and the queue (with the senders' latency) grew without bound.
 * Now a room's messages wait while one group is being stored; the next group takes everything
 * that arrived meanwhile (up to CHAT_BATCH_MAX): one transaction, one multi-row INSERT, then ONE
 * `chatEmit` (one sequence step, one publish) for the whole group. Each message is acked only after
 * its group is stored, in the order it was submitted; nothing waits on a timer when the room is
 * quiet (a lone message is a group of one).
 *
 * Overload is said at once: the pipeline keeps a moving average of the time per stored message; when
 * what is queued already would take longer than CHAT_QUEUE_MAX_MS, a new message is refused with
 * `rate_limited` and `retry_after_ms` (the estimated drain time) instead of being queued.
 */
export class RoomPipeline {
  private queue: Pending[] = [];
  private flushing = false;
  /** Moving average of milliseconds per stored message, and per group (a group's fixed cost). */
  private msPerMessage = 0.2;
  private msPerGroup = 5;

  constructor(
    private readonly o: { db: Db; bus: ChatBus; eventId: string; roomId: string; batchMax: number; queueMaxMs: number; log: Logger; onIdle?: () => void },
  ) {}

  /** Throws `rate_limited` (with `retry_after_ms`) when one more message could not be stored within CHAT_QUEUE_MAX_MS. */
  checkBacklog(): void {
    // A room that is idle always takes a message; a busy one refuses what it could not store in time.
    if (this.flushing && this.backlogMs(1) > this.o.queueMaxMs) {
      // When this one could be stored: the group being written, then everything queued before it.
      const retry = Math.max(1, Math.ceil(this.backlogMs(1)));
      throw new ChatError("rate_limited", `the room is busy: messages are being refused for a moment; retry in ${retry} ms`, { retry_after_ms: retry });
    }
  }

  /** What the queued messages would take to store, by the recent average. */
  backlogMs(extra = 0): number {
    const n = this.queue.length + extra;
    if (n === 0) return 0;
    const groups = Math.ceil(n / this.o.batchMax) + (this.flushing ? 1 : 0);
    return groups * this.msPerGroup + n * this.msPerMessage;
  }

  /** Queues a message (checked with checkBacklog first); resolves once its group is stored and announced. */
  submit(m: MessageToStore & { origin: string }): Promise<ChatMessageView> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...m, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, this.o.batchMax);
        const t0 = performance.now();
        await this.storeGroup(group);
        const took = performance.now() - t0;
        // A fixed cost per group plus a cost per message: split the observed time between them.
        const perMessage = took / (group.length + 10);
        this.msPerMessage = this.msPerMessage * 0.8 + perMessage * 0.2;
        this.msPerGroup = this.msPerGroup * 0.8 + perMessage * 10 * 0.2;
      }
    } finally {
      this.flushing = false;
      this.o.onIdle?.();
    }
  }

  private async storeGroup(group: Pending[]): Promise<void> {
    let results: Awaited<ReturnType<typeof storeMessages>>;
    try {
      results = await storeMessages({ db: this.o.db, roomId: this.o.roomId, messages: group });
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    }
    const stored: ChatBusMessageItem[] = [];
    for (const [i, r] of results.entries()) if (!(r instanceof ChatError)) stored.push({ ...r, o: group[i]!.origin });
    if (stored.length > 0) {
      try {
        await this.o.bus.emit(this.o.eventId, { k: "messages", messages: stored });
      } catch (err) {
        // Stored (and in history) but not announced: the authors hear an error, never the reverse.
        this.o.log.error({ err, eventId: this.o.eventId, messages: stored.length }, "messages stored but not published");
        for (const p of group) p.reject(err);
        return;
      }
    }
    for (const [i, r] of results.entries()) {
      if (r instanceof ChatError) group[i]!.reject(r);
      else group[i]!.resolve(r);
    }
  }
}
