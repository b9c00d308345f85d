import type { Logger } from "@seatdrop/observability";
import type { UserBusMessage } from "@seatdrop/protocol";
import type { Keys, Redis } from "@seatdrop/redis";

/**
 * Subscriptions to users' personal channels (topic `user:<userId>`), one Redis channel per user with
 * a joined connection on this node, reference counted. Notifications are not sequenced: each is
 * stored in PostgreSQL first, and a join's reply lists the unread ones, so a lost push costs nothing.
 */
export class UserFeeds {
  private refs = new Map<string, number>();
  private byChannel = new Map<string, string>();
  private readonly log: Logger;

  constructor(
    private readonly sub: Redis,
    private readonly keys: Keys,
    private readonly deliver: (userId: string, msg: UserBusMessage) => void,
    logger: Logger,
  ) {
    this.log = logger.child({ module: "user-feeds" });
  }

  /** Hands a pub/sub message to its user; false when the channel is not a user channel of this node. */
  onMessage(channel: string, text: string): boolean {
    const userId = this.byChannel.get(channel);
    if (userId === undefined) return false;
    try {
      this.deliver(userId, JSON.parse(text) as UserBusMessage);
    } catch (err) {
      this.log.error({ err, channel }, "undecodable user message");
    }
    return true;
  }

  /** Subscribes (once per user) and resolves when Redis acknowledged it. */
  async acquire(userId: string): Promise<void> {
    const channel = this.keys.userChannel(userId);
    const n = this.refs.get(userId) ?? 0;
    this.refs.set(userId, n + 1);
    if (n === 0) this.byChannel.set(channel, userId);
    try {
      await this.sub.subscribe(channel);
    } catch (err) {
      this.release(userId);
      throw err;
    }
  }

  release(userId: string): void {
    const n = this.refs.get(userId);
    if (n === undefined) return;
    if (n > 1) {
      this.refs.set(userId, n - 1);
      return;
    }
    const channel = this.keys.userChannel(userId);
    this.refs.delete(userId);
    this.byChannel.delete(channel);
    this.sub.unsubscribe(channel).catch((err: unknown) => this.log.warn({ err, channel }, "unsubscribe failed"));
  }
}
