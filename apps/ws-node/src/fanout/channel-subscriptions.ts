import type { Redis } from "ioredis";
import type { Logger } from "@seatdrop/observability";

/** What a subscription holds: anything with a reference count and a promise of readiness. */
export interface Subscribed {
  refs: number;
  ready: Promise<void>;
}

/**
 * Reference-counted Redis channel subscriptions on the node's one subscriber connection (DESIGN
 * §3.5: a node subscribes to a channel only while it has local subscribers, never to a pattern).
 * Seat feeds, chat room feeds and user channels each keep one of these, keyed by their own id.
 */
export class ChannelSubscriptions<F extends Subscribed> {
  private entries = new Map<string, F>();
  private byChannel = new Map<string, F>();

  constructor(
    private readonly sub: Redis,
    private readonly channelOf: (key: string) => string,
    /** Makes the entry for a key; `subscribed` resolves once Redis acknowledged the SUBSCRIBE. */
    private readonly create: (key: string, subscribed: Promise<unknown>) => F,
    private readonly log: Logger,
    private readonly onSizeChange: (size: number) => void = () => {},
  ) {}

  /** Subscribes on first use and resolves when the entry is ready. */
  async acquire(key: string): Promise<F> {
    let entry = this.entries.get(key);
    if (!entry) {
      const channel = this.channelOf(key);
      entry = this.create(key, this.sub.subscribe(channel));
      this.entries.set(key, entry);
      this.byChannel.set(channel, entry);
      this.onSizeChange(this.entries.size);
    }
    entry.refs++;
    try {
      await entry.ready;
    } catch (err) {
      this.release(key);
      throw err;
    }
    return entry;
  }

  /** Drops one reference; the last one unsubscribes. */
  release(key: string): void {
    const entry = this.entries.get(key);
    if (!entry || --entry.refs > 0) return;
    const channel = this.channelOf(key);
    this.entries.delete(key);
    this.byChannel.delete(channel);
    this.onSizeChange(this.entries.size);
    this.sub.unsubscribe(channel).catch((err: unknown) => this.log.warn({ err, channel }, "unsubscribe failed"));
  }

  get(key: string): F | undefined {
    return this.entries.get(key);
  }

  /** The entry a pub/sub message on `channel` is for, if this registry owns the channel. */
  forChannel(channel: string): F | undefined {
    return this.byChannel.get(channel);
  }

  values(): IterableIterator<F> {
    return this.entries.values();
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }
}
