import type { Logger } from "@seatdrop/observability";

/** A waiter that sees no progress this long asks the log for what pub/sub did not deliver. */
const STALL_MS = 200;
/** Retries after a Redis failure start here and double up to the ceiling, until Redis answers. */
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5000;

import { continues, type StreamPosition } from "./position.ts";

/** One publish as the feed sees it: sequenced items in order, who caused them, and their epoch. */
export interface FeedMessage<T> {
  items: T[];
  origin?: string | undefined;
  epoch?: string | undefined;
}

/** What the queue holds: a message, or a mark "the log has items up to `fillTo`" (stall, reconnect). */
type Queued<T> = FeedMessage<T> | { fillTo: number; epoch?: string | null | undefined };

/**
 * One sequenced stream on this node (an event's seat changes, a chat room), delivered in `seq`
 * order with no gaps and no repeats. Seat feeds and room feeds are thin subclasses: they say how to
 * read the position and the log, what delivering means and how their subscribers resync.
 *
 * Redis pub/sub is at-most-once (a reconnecting subscriber, a full output buffer lose messages), so
 * every message is checked against the last delivered `seq`: a repeat is dropped, a gap is filled
 * from the stream's Redis log first. A gap nothing later reveals (the last publish was lost) is
 * found by the waiters' stall check and by the catch-up after a reconnect. When the log no longer
 * reaches back, or the epoch changed (Redis lost the stream and numbering restarted), the feed
 * starts over from the current position and its subscribers resync (they rejoin and reload).
 *
 * Redis failures never reject out of the feed (an unhandled rejection would end the node and every
 * socket on it): the feed retries with back-off until Redis answers, then resyncs its subscribers.
 */
export abstract class SequencedFeed<T> {
  lastSeq = 0;
  epoch: string | null = null;
  refs = 0;
  readonly ready: Promise<void>;
  protected readonly log: Logger;
  private ring: (T | undefined)[];
  private queue: Queued<T>[] = [];
  private pumping = false;
  private initialised = false;
  private closed = false;
  private waiters: { seq: number; resolve: (reached: boolean) => void }[] = [];
  private stallTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = 0;

  /** The stream's current position (and, for subclasses that keep state, that state): start and resets. */
  protected abstract load(): Promise<StreamPosition>;
  /** The position only, cheaply (catch-up after a reconnect). */
  protected abstract position(): Promise<StreamPosition>;
  /** Logged items `from..to`, or null when the log no longer reaches back to `from`. */
  protected abstract readLog(from: number, to: number): Promise<T[] | null>;
  /** Hands items, in order and each once, to the node's subscribers. */
  protected abstract deliver(items: T[], origin: string | undefined): void;
  /** The subscribers must start over (rejoin): what they saw no longer continues. */
  protected abstract resync(): void;
  protected abstract seqOf(item: T): number;
  /** Called with the number of items read from the log to fill a gap (metrics). */
  protected onGapFilled(_count: number): void {}
  /** Start-up work run beside the first load (a room's status from PostgreSQL). */
  protected async prepare(): Promise<void> {}

  constructor(
    readonly key: string,
    private readonly ringSize: number,
    log: Logger,
    subscribed: Promise<unknown>,
  ) {
    this.log = log;
    this.ring = new Array(ringSize);
    // Runs only after SUBSCRIBE is acknowledged: anything published after the load reaches `offer`.
    this.ready = subscribed.then(async () => {
      const [pos] = await Promise.all([this.load(), this.prepare()]);
      this.lastSeq = pos.seq;
      this.epoch = pos.epoch;
      this.initialised = true;
      this.wake();
      void this.pump();
    });
  }

  /** True once the first load finished (messages before it are queued, unsequenced ones dropped). */
  get started(): boolean {
    return this.initialised && !this.closed;
  }

  /** Publishes received so far, and as of the last audit: a feed that hears nothing while Redis moves on has a dead subscription. */
  private heard = 0;
  private heardAtAudit = 0;

  /** A publish received from pub/sub. */
  offer(msg: FeedMessage<T>): void {
    if (this.closed) return;
    this.heard++;
    this.queue.push(msg);
    void this.pump();
  }

  /**
   * After a reconnect (and, on a Redis Cluster, every few seconds through `audit`): reads the
   * position and fills from the log what was published meanwhile, or resyncs on a new epoch.
   * Resolves true when something had been missed.
   */
  catchUp(): Promise<boolean> {
    if (!this.initialised || this.closed) return Promise.resolve(false);
    return this.position().then(
      (pos) => {
        // Nothing missed when what Redis has is a position this feed has already reached.
        if (continues(pos, { seq: this.lastSeq, epoch: this.epoch })) return false;
        this.queue.push({ fillTo: pos.seq, epoch: pos.epoch });
        void this.pump();
        return true;
      },
      (err: unknown) => {
        this.failed(err, "catch-up after a reconnect failed");
        return false;
      },
    );
  }

  /**
   * ChannelSubscriptions' periodic check on a Redis Cluster: catches up, and resolves true when the
   * subscription looks dead (something was missed and no publish arrived since the previous check).
   */
  async audit(): Promise<boolean> {
    const heard = this.heard;
    const missed = await this.catchUp();
    const silent = heard === this.heardAtAudit;
    this.heardAtAudit = heard;
    return missed && silent;
  }

  /**
   * A reader's catch-up: everything after `seq` up to the feed's position, from the ring, else
   * from the stream's log joined to what the feed delivered while the log was read. Null when the
   * log no longer reaches back that far (the reader needs a snapshot); undefined when `isCurrent`
   * turned false meanwhile (the reader is gone). Seat joins and chat joins both catch up here.
   */
  async itemsSince(seq: number, isCurrent: () => boolean): Promise<T[] | null | undefined> {
    const ring = this.eventsSince(seq);
    if (ring !== null) return ring;
    const upTo = this.lastSeq;
    const logged = await this.readLog(seq + 1, upTo);
    if (!isCurrent()) return undefined;
    const tail = this.eventsSince(upTo);
    return logged && tail && logged.length === upTo - seq ? [...logged, ...tail] : null;
  }

  /** Items after `seq` up to lastSeq from memory, or null when the ring no longer has them all. */
  eventsSince(seq: number): T[] | null {
    if (seq >= this.lastSeq) return [];
    if (this.lastSeq - seq > this.ringSize) return null;
    const out: T[] = [];
    for (let s = seq + 1; s <= this.lastSeq; s++) {
      const item = this.ring[s % this.ringSize];
      if (item === undefined || this.seqOf(item) !== s) return null;
      out.push(item);
    }
    return out;
  }

  /**
   * Resolves true once every item up to `seq` was delivered on this node, or when the feed starts
   * over (the caller rechecks and falls back to a fresh read); false after `timeoutMs`, if given.
   * While it waits without progress, the log is read: pub/sub may have lost the last publish.
   */
  reached(seq: number, timeoutMs?: number): Promise<boolean> {
    if (seq <= this.lastSeq || this.closed) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = {
        seq,
        resolve: (ok: boolean) => {
          if (timer) clearTimeout(timer);
          resolve(ok);
        },
      };
      this.waiters.push(waiter);
      if (timeoutMs !== undefined)
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs);
      this.armStallCheck();
    });
  }

  /**
   * Starts over at a position the caller read itself (a join's snapshot from a newer epoch than
   * this feed has seen): current subscribers resync.
   */
  protected restartAt(pos: StreamPosition): void {
    this.ring = new Array(this.ringSize);
    this.lastSeq = pos.seq;
    this.epoch = pos.epoch;
    this.resync();
    this.wakeAll();
  }

  /** The last subscriber left: stop timers and deliveries, release waiters. */
  close(): void {
    this.closed = true;
    this.queue = [];
    clearTimeout(this.stallTimer);
    clearTimeout(this.retryTimer);
    this.wakeAll();
  }

  private armStallCheck(): void {
    if (this.stallTimer || this.waiters.length === 0 || this.closed) return;
    const armedAt = this.lastSeq;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      if (this.waiters.length === 0 || this.closed) return;
      if (this.lastSeq === armedAt && this.initialised) {
        // Nothing arrived for a while and someone waits: the publish they wait for may be lost.
        let target = 0;
        for (const w of this.waiters) if (w.seq > target) target = w.seq;
        this.queue.push({ fillTo: target, epoch: this.epoch });
        void this.pump();
      }
      this.armStallCheck();
    }, STALL_MS);
    this.stallTimer.unref();
  }

  private async pump(): Promise<void> {
    if (this.pumping || !this.initialised || this.retryTimer || this.closed) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const msg = this.queue.shift()!;
        if (msg.epoch && this.epoch && msg.epoch !== this.epoch) {
          this.log.warn({ key: this.key, from: this.epoch, to: msg.epoch }, "epoch changed; subscribers resync");
          await this.startOver();
          // A message of the epoch now current is delivered as usual; one of an older epoch is stale.
          if (msg.epoch !== this.epoch) continue;
        }
        if (msg.epoch && !this.epoch) this.epoch = msg.epoch;
        if ("fillTo" in msg) {
          await this.fill(msg.fillTo);
          continue;
        }
        const first = msg.items[0];
        if (first !== undefined) await this.fill(this.seqOf(first) - 1);
        const fresh = msg.items.filter((i) => this.seqOf(i) > this.lastSeq);
        if (fresh.length > 0) this.advance(fresh, msg.origin);
      }
    } catch (err) {
      this.failed(err, "feed failed");
    } finally {
      this.pumping = false;
    }
  }

  /** Delivers what the log has after lastSeq up to `to`; starts over when it no longer has it all. */
  private async fill(to: number): Promise<void> {
    if (to <= this.lastSeq) return;
    const from = this.lastSeq + 1;
    const missing = await this.readLog(from, to);
    if (this.closed) return;
    if (missing === null) {
      this.log.warn({ key: this.key, from, to }, "the log no longer has the gap; subscribers resync");
      await this.startOver();
      return;
    }
    const fresh = missing.filter((i) => this.seqOf(i) > this.lastSeq);
    if (fresh.length === 0) return;
    this.onGapFilled(fresh.length);
    this.log.warn({ key: this.key, from, to }, "filled a sequence gap from the log");
    this.advance(fresh, undefined);
  }

  private advance(items: T[], origin: string | undefined): void {
    for (const item of items) this.ring[this.seqOf(item) % this.ringSize] = item;
    this.lastSeq = this.seqOf(items[items.length - 1]!);
    this.deliver(items, origin);
    this.wake();
  }

  /** Reads the current position and state; subscribers resync from it. */
  private async startOver(): Promise<void> {
    const pos = await this.load();
    if (this.closed) return;
    this.restartAt(pos);
  }

  /**
   * Redis is failing (a failover, a restart): drop what is queued (the resync replaces it) and retry
   * with back-off until Redis answers; nothing is delivered meanwhile.
   */
  private failed(err: unknown, what: string): void {
    if (this.closed) return;
    this.log.error({ err, key: this.key }, `${what}; retrying, subscribers resync when Redis answers`);
    this.queue = [];
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.startOver().then(
        () => {
          this.retryTimer = undefined;
          this.retryMs = 0;
          void this.pump();
        },
        (err: unknown) => {
          this.retryTimer = undefined;
          this.retryMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, this.retryMs * 2));
          this.log.warn({ err, key: this.key, retryMs: this.retryMs }, "feed reset failed; retrying");
          this.scheduleRetry();
        },
      );
    }, this.retryMs);
    this.retryTimer.unref();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const due = this.waiters.filter((w) => w.seq <= this.lastSeq);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.seq > this.lastSeq);
    for (const w of due) w.resolve(true);
  }

  /** Waiters of a feed that started over resolve; they recheck the ring and fall back to a fresh read. */
  private wakeAll(): void {
    const all = this.waiters;
    this.waiters = [];
    for (const w of all) w.resolve(true);
  }
}
