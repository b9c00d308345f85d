import type { Logger } from "@seatdrop/observability";
import { isCluster } from "@seatdrop/redis";
import { decodeBus, type BusSchema, type Decoded } from "@seatdrop/streams";
import type { Subscriber } from "./subscriber.ts";

/**
 * On a Redis Cluster, how often every entry checks that it has all its channel's messages. Pub/sub is
 * at most once, and after a shard's failover ioredis may take its time (or, seen in a test one run in
 * six, fail) to move a sharded subscription to the promoted replica: meanwhile the node hears
 * nothing from that shard, not even the new epoch. The check reads the stream's position (two
 * reads per entry) and fills the gap from the log or resyncs; a gap with nothing heard since the
 * previous check means the subscription is not delivering, so the channel is subscribed again.
 */
const CLUSTER_AUDIT_MS = 5000;

/** What a subscription holds: anything with a reference count and a promise of readiness. */
export interface Subscribed {
  refs: number;
  ready: Promise<void>;
  /** Called when the last reference is released (stop timers, release waiters). */
  close?(): void;
}

export interface ChannelSubscriptionsOptions<F extends Subscribed, S extends BusSchema> {
  subscriber: Subscriber;
  channelOf: (key: string) => string;
  /** Makes the entry for a key; `subscribed` resolves once Redis acknowledged the SSUBSCRIBE. */
  create: (key: string, subscribed: Promise<unknown>) => F;
  /**
   * What the channel carries (libs/protocol bus-schemas.ts) and its name for the log: a message
   * that does not decode is logged, naming the channel and the field, and dropped here, so every
   * `onMessage` gets a decoded one.
   */
  schema: S;
  what: string;
  /** A decoded pub/sub message on the entry's channel. */
  onMessage: (entry: F, msg: Decoded<S>) => void;
  /** After the subscriber reconnected (resubscriptions acknowledged), for each entry. */
  onReconnect?: (entry: F) => unknown;
  /** On a Redis Cluster, every CLUSTER_AUDIT_MS for each entry: catch up, and true when its subscription looks dead (Redis moved on, nothing heard since the last audit). */
  audit?: (entry: F) => Promise<boolean>;
  log: Logger;
  onSizeChange?: (size: number) => void;
}

/**
 * Reference-counted Redis sharded-channel subscriptions (SSUBSCRIBE) on the node's one subscriber
 * connection (see Subscriber). Seat feeds, chat room feeds and user channels each keep one of these, keyed by their
 * own id; the subscriber routes each channel's messages to its entry.
 */
export class ChannelSubscriptions<F extends Subscribed, S extends BusSchema> {
  private entries = new Map<string, F>();

  private readonly handlers = new Map<string, (text: string) => void>();

  constructor(private readonly o: ChannelSubscriptionsOptions<F, S>) {
    const { onReconnect, audit } = o;
    if (onReconnect)
      o.subscriber.onReconnect(() => {
        for (const e of this.entries.values()) onReconnect(e);
      });
    if (!audit || !isCluster(o.subscriber.connection)) return;
    const timer = setInterval(() => {
      if (o.subscriber.connection.status === "end") return clearInterval(timer); // the node closed
      for (const [key, e] of this.entries) {
        void audit(e).then((dead) => {
          if (dead && this.entries.get(key) === e) this.resubscribe(key);
        });
      }
    }, CLUSTER_AUDIT_MS);
    timer.unref();
  }

  /** Subscribes the entry's channel again (its subscription stopped delivering). */
  private resubscribe(key: string): void {
    const handler = this.handlers.get(key);
    if (!handler) return;
    const channel = this.o.channelOf(key);
    this.o.log.warn({ channel }, "a sharded subscription missed messages; subscribing again");
    this.o.subscriber.unsubscribe(channel);
    this.o.subscriber.ssubscribe(channel, handler).catch((err: unknown) => this.o.log.warn({ err, channel }, "subscribing again failed; the next audit retries"));
  }

  /** Subscribes on first use and resolves when the entry is ready. */
  async acquire(key: string): Promise<F> {
    let entry = this.entries.get(key);
    if (!entry) {
      const created: { e?: F } = {};
      // Messages before `create` returns cannot arrive: the SUBSCRIBE is not acknowledged yet.
      // Sharded: an event's and a user's channels live on the shard of their hash tag.
      const channel = this.o.channelOf(key);
      const handler = (text: string) => {
        if (!created.e) return;
        let msg: Decoded<S>;
        try {
          msg = decodeBus(this.o.schema, text, this.o.what);
        } catch (err) {
          this.o.log.error({ err, channel }, `undecodable ${this.o.what}`);
          return;
        }
        this.o.onMessage(created.e, msg);
      };
      this.handlers.set(key, handler);
      const subscribed = this.o.subscriber.ssubscribe(channel, handler);
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
    this.handlers.delete(key);
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
