import type { Logger } from "@seatdrop/observability";
import type { Subscriber } from "./subscriber.ts";

/** What a subscription holds: anything with a reference count and a promise of readiness. */
export interface Subscribed {
  refs: number;
  ready: Promise<void>;
  /** Called when the last reference is released (stop timers, release waiters). */
  close?(): void;
}

export interface ChannelSubscriptionsOptions<F extends Subscribed> {
  subscriber: Subscriber;
  channelOf: (key: string) => string;
  /** Makes the entry for a key; `subscribed` resolves once Redis acknowledged the SSUBSCRIBE. */
  create: (key: string, subscribed: Promise<unknown>) => F;
  /** A pub/sub message on the entry's channel. */
  onMessage: (entry: F, text: string) => void;
  /** After the subscriber reconnected (resubscriptions acknowledged), for each entry. */
  onReconnect?: (entry: F) => void;
  log: Logger;
  onSizeChange?: (size: number) => void;
}

/**
 * Reference-counted Redis sharded-channel subscriptions (SSUBSCRIBE) on the node's one subscriber
 * connection (see Subscriber). Seat feeds, chat room feeds and user channels each keep one of these, keyed by their
 * own id; the subscriber routes each channel's messages to its entry.
 */
export class ChannelSubscriptions<F extends Subscribed> {
  private entries = new Map<string, F>();

  constructor(private readonly o: ChannelSubscriptionsOptions<F>) {
    const { onReconnect } = o;
    if (onReconnect) o.subscriber.onReconnect(() => {
      for (const e of this.entries.values()) onReconnect(e);
    });
  }

  /** Subscribes on first use and resolves when the entry is ready. */
  async acquire(key: string): Promise<F> {
    let entry = this.entries.get(key);
    if (!entry) {
      const created: { e?: F } = {};
      // Messages before `create` returns cannot arrive: the SUBSCRIBE is not acknowledged yet.
      // Sharded: an event's and a user's channels live on the shard of their hash tag.
      const subscribed = this.o.subscriber.ssubscribe(this.o.channelOf(key), (text) => {
        if (created.e) this.o.onMessage(created.e, text);
      });
      entry = created.e = this.o.create(key, subscribed);
      this.entries.set(key, entry);
      this.o.onSizeChange?.(this.entries.size);
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
    this.entries.delete(key);
    this.o.onSizeChange?.(this.entries.size);
    entry.close?.();
    this.o.subscriber.unsubscribe(this.o.channelOf(key));
  }

  get(key: string): F | undefined {
    return this.entries.get(key);
  }

  values(): IterableIterator<F> {
    return this.entries.values();
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }
}
