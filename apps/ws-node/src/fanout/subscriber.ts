import type { Redis } from "@seatdrop/redis";
import type { Logger } from "@seatdrop/observability";

/**
 * The owner of the node's one Redis subscriber connection (DESIGN §3.5: a node subscribes to a
 * channel only while it has local subscribers, never to a pattern). Seat feeds, chat rooms, user
 * channels and the token revocations register their channels here; this class holds the only
 * `message` handler, which routes each message by its channel, and the only `ready` handler.
 */
export class Subscriber {
  private readonly handlers = new Map<string, (text: string) => void>();
  private readonly reconnectListeners: (() => void)[] = [];
  private readonly log: Logger;

  constructor(
    readonly connection: Redis,
    logger: Logger,
  ) {
    this.log = logger.child({ module: "subscriber" });
    connection.on("message", (channel: string, text: string) => {
      const handler = this.handlers.get(channel);
      if (!handler) return; // unsubscribed meanwhile
      try {
        handler(text);
      } catch (err) {
        this.log.error({ err, channel }, "pub/sub message handler failed");
      }
    });
    // After a reconnect ioredis resubscribes by itself; what was published meanwhile is only in the
    // logs, so every sequenced feed checks for a gap at once instead of waiting for its next message.
    // ioredis says "ready" BEFORE it resubscribes: a PING queued now is answered after the SUBSCRIBE
    // acknowledgements, so each catch-up reads a position that includes everything published before
    // this connection listened again.
    connection.on("ready", () => {
      const catchUp = () => {
        for (const fn of this.reconnectListeners) fn();
      };
      connection.ping().then(catchUp, catchUp);
    });
  }

  /** Subscribes `channel`, routing its messages to `onMessage`; resolves once Redis acknowledged it. */
  subscribe(channel: string, onMessage: (text: string) => void): Promise<unknown> {
    this.handlers.set(channel, onMessage);
    return this.connection.subscribe(channel);
  }

  /** Stops routing `channel` at once and unsubscribes it (a failure is logged, never thrown). */
  unsubscribe(channel: string): void {
    this.handlers.delete(channel);
    this.connection.unsubscribe(channel).catch((err: unknown) => this.log.warn({ err, channel }, "unsubscribe failed"));
  }

  /** Called after each (re)connection, once the resubscriptions are acknowledged. */
  onReconnect(fn: () => void): void {
    this.reconnectListeners.push(fn);
  }

  get status(): string {
    return this.connection.status;
  }
}
