import { duplicateRedis, isCluster, type Redis } from "@seatdrop/redis";
import { metrics, type Logger } from "@seatdrop/observability";

/** How long after ioredis re-sent a Redis Cluster's sharded subscriptions the feeds check for what they missed. */
const CLUSTER_RESUBSCRIBE_SETTLE_MS = 200;

/** The size of a pub/sub push as Redis writes it (RESP2: `*3`, then the kind, channel and payload as bulk strings). */
export function respPushBytes(kind: string, channel: string, payload: string): number {
  const bulk = (n: number) => 1 + String(n).length + 2 + n + 2; // $<n>\r\n<bytes>\r\n
  return 4 + bulk(kind.length) + bulk(Buffer.byteLength(channel)) + bulk(Buffer.byteLength(payload));
}

/**
 * The owner of the node's one Redis subscriber connection (a node subscribes to a channel only
 * while it has local subscribers, never to a pattern, so it receives only what it delivers); on a
 * Redis Cluster, ioredis' Cluster client with one sharded subscriber per master (`connectRedis`).
 * Seat feeds, chat rooms, user channels and the token revocations register their channels here;
 * this class holds the only `message` handler, which routes each message by its channel, and the
 * only `ready` handler.
 */
export class Subscriber {
  private readonly handlers = new Map<string, (text: string) => void>();
  /** The channels subscribed with SSUBSCRIBE (an event's or a user's, which live on one shard). */
  private readonly sharded = new Set<string>();
  private readonly reconnectListeners: (() => void)[] = [];
  private readonly log: Logger;

  /**
   * The connection of the sharded channels. On a standalone Redis a second connection: ioredis takes
   * SUNSUBSCRIBE's count of shard channels left, 0, for "no subscription left" and drops out of
   * subscriber mode while plain ones remain ("Command queue state error" at the next message). A
   * Cluster client keeps its sharded subscribers (one per master) apart from the plain one already.
   */
  readonly shardedConnection: Redis;

  constructor(
    readonly connection: Redis,
    logger: Logger,
  ) {
    this.log = logger.child({ module: "subscriber" });
    this.shardedConnection = isCluster(connection) ? connection : duplicateRedis(connection, { connectionName: `${connection.options.connectionName ?? "sdc-subscriber"}-sharded` });
    const route = (channel: string, text: string) => {
      const handler = this.handlers.get(channel);
      if (!handler) return; // unsubscribed meanwhile
      try {
        handler(text);
      } catch (err) {
        this.log.error({ err, channel }, "pub/sub message handler failed");
      }
    };
    const counted = (kind: "sharded" | "plain") => {
      const messages = metrics.pubsubMessages.labels(kind);
      const bytes = metrics.pubsubBytes.labels(kind);
      const push = kind === "sharded" ? "smessage" : "message";
      return (channel: string, text: string) => {
        messages.inc();
        bytes.inc(respPushBytes(push, channel, text));
        route(channel, text);
      };
    };
    connection.on("message", counted("plain"));
    this.shardedConnection.on("smessage", counted("sharded"));
    // After a reconnect ioredis resubscribes by itself; what was published meanwhile is only in the
    // logs, so every sequenced feed checks for a gap at once instead of waiting for its next message.
    // ioredis says "ready" BEFORE it resubscribes: a PING queued now is answered after the SUBSCRIBE
    // acknowledgements, so each catch-up reads a position that includes everything published before
    // this connection listened again.
    // Either connection: the listeners only check (a feed for a gap, the sessions against the
    // record), so one that runs for the other connection's reconnect costs a read and changes nothing.
    for (const c of new Set([connection, this.shardedConnection]))
      c.on("ready", () => {
        const catchUp = () => {
          for (const fn of this.reconnectListeners) fn();
        };
        c.ping().then(catchUp, catchUp);
      });
    // A Redis Cluster client stays "ready" while one shard fails over: ioredis moves that shard's
    // sharded subscriber to the promoted replica on its own and says "subscribersReady" once it has
    // sent the SSUBSCRIBEs again. What was published in between (an epoch announcement after a
    // failover: apps/worker/src/failover-recovery.ts) reached no one, so the feeds check then, a
    // moment later, when the resubscriptions have been executed.
    if (isCluster(connection))
      connection.on("subscribersReady", () => {
        setTimeout(() => {
          for (const fn of this.reconnectListeners) fn();
        }, CLUSTER_RESUBSCRIBE_SETTLE_MS).unref();
      });
    if (this.shardedConnection !== connection) this.shardedConnection.on("error", (err: Error) => this.log.warn({ err: err.message }, "redis (sharded subscriber) connection error"));
  }

  /**
   * Subscribes a cluster-wide `channel` (revocations, limit totals: PUBLISH, which a Redis Cluster
   * copies to every node), routing its messages to `onMessage`; resolves once Redis acknowledged it.
   */
  subscribe(channel: string, onMessage: (text: string) => void): Promise<unknown> {
    this.handlers.set(channel, onMessage);
    return this.connection.subscribe(channel);
  }

  /**
   * Subscribes a sharded `channel` (an event's seats or chat, a user's notifications: SPUBLISH), read
   * from the shard that owns its slot, so a message never leaves that shard (on a standalone Redis 7
   * the same commands, one shard).
   */
  ssubscribe(channel: string, onMessage: (text: string) => void): Promise<unknown> {
    this.handlers.set(channel, onMessage);
    this.sharded.add(channel);
    return this.shardedConnection.ssubscribe(channel);
  }

  /** Stops routing `channel` at once and unsubscribes it, either kind (a failure is logged, never thrown). */
  unsubscribe(channel: string): void {
    this.handlers.delete(channel);
    const done = this.sharded.delete(channel) ? this.shardedConnection.sunsubscribe(channel) : this.connection.unsubscribe(channel);
    done.catch((err: unknown) => this.log.warn({ err, channel }, "unsubscribe failed"));
  }

  /** Called after each (re)connection, once the resubscriptions are acknowledged. */
  onReconnect(fn: () => void): void {
    this.reconnectListeners.push(fn);
  }

  /** "ready" when both connections are (one on a cluster). */
  get status(): string {
    return this.connection.status === "ready" ? this.shardedConnection.status : this.connection.status;
  }

  /** Closes the connections (the plain one belongs to the caller, who made it; closed here too). */
  disconnect(): void {
    this.connection.disconnect();
    if (this.shardedConnection !== this.connection) this.shardedConnection.disconnect();
  }
}
