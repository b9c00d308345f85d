import type { Db } from "@seatdrop/db";
import { metrics, type Logger } from "@seatdrop/observability";
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
 * One room's message path on one node: group commit.
 *
 * Profiled before (`--cpu-prof`): the ws-nodes were mostly idle while acks lagged seconds; every
 * message was its own transaction (BEGIN, room FOR SHARE, ticket check, INSERT, COMMIT) on a node
 * pool of two connections, so a room's acks stayed flat whatever the offered rate, and the queue
 * (with the senders' latency) grew without bound.
 * Now a room's messages wait while one group is being stored; the next group takes everything
 * that arrived meanwhile (up to CHAT_BATCH_MAX): one transaction, one multi-row INSERT, then ONE
 * `chatEmit` (one sequence step, one publish) for the whole group. Each message is acked only after
 * its group is stored, in the order it was submitted; nothing waits on a timer when the room is
 * quiet (a lone message is a group of one).
 *
 * Overload is said at once: the pipeline keeps a moving average of the time a group takes; when the
 * next group is already full and one more message would wait longer than CHAT_QUEUE_MAX_MS, it is
 * refused with `rate_limited` and `retry_after_ms` (the estimated wait) instead of being queued.
 */
export class RoomPipeline {
  private queue: Pending[] = [];
  private flushing = false;
  /** When the group being written started, and a moving average of how long a group takes. */
  private groupStartedAt = 0;
  private groupMs = 5;

  constructor(
    private readonly o: { db: Db; bus: ChatBus; eventId: string; roomId: string; batchMax: number; queueMaxMs: number; log: Logger; onIdle?: () => void },
  ) {}

  /** How long a message queued behind `queued` others would wait: the group being written, then a group per CHAT_BATCH_MAX. */
  waitMs(queued: number): number {
    if (!this.flushing) return 0;
    const remaining = Math.max(0, this.groupMs - (performance.now() - this.groupStartedAt));
    return remaining + Math.ceil((queued + 1) / this.o.batchMax) * this.groupMs;
  }

  /**
   * Throws `rate_limited` (with `retry_after_ms`) when the room is behind: the next group is full and
   * one more message would wait longer than CHAT_QUEUE_MAX_MS. Filling the next group is always
   * allowed (it costs one group's time whatever its size), so a slow database lowers the ack rate to
   * CHAT_BATCH_MAX per group time instead of refusing everyone.
   */
  checkBacklog(): void {
    if (!this.flushing || this.queue.length < this.o.batchMax) return;
    const wait = this.waitMs(this.queue.length);
    if (wait <= this.o.queueMaxMs) return;
    const retry = Math.max(1, Math.ceil(wait));
    throw new ChatError("rate_limited", `the room is busy: messages are being refused for a moment; retry in ${retry} ms`, { retry_after_ms: retry });
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
        this.groupStartedAt = performance.now();
        await this.storeGroup(group);
        this.groupMs = this.groupMs * 0.7 + (performance.now() - this.groupStartedAt) * 0.3;
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
    // Committed: counted even if the announcement below fails (the messages are in history).
    metrics.chatMessagesStored.inc(stored.length);
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
