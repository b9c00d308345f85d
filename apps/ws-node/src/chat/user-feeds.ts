import type { Logger } from "@seatdrop/observability";
import type { UserBusMessage } from "@seatdrop/protocol";
import type { Keys, Redis } from "@seatdrop/redis";
import { ChannelSubscriptions } from "../fanout/channel-subscriptions.ts";

/**
 * Subscriptions to users' personal channels (topic `user:<userId>`), one Redis channel per user with
 * a joined connection on this node, reference counted. Notifications are not sequenced: each is
 * stored in PostgreSQL first, and a join's reply lists the unread ones, so a lost push costs nothing.
 */
export class UserFeeds {
  private readonly subs: ChannelSubscriptions<UserSubscription>;
  private readonly log: Logger;

  constructor(
    sub: Redis,
    keys: Keys,
    private readonly deliver: (userId: string, msg: UserBusMessage) => void,
    logger: Logger,
  ) {
    this.log = logger.child({ module: "user-feeds" });
    this.subs = new ChannelSubscriptions<UserSubscription>(
      sub,
      (userId) => keys.userChannel(userId),
      (userId, subscribed) => ({ userId, refs: 0, ready: subscribed.then(() => undefined) }),
      this.log,
    );
  }

  /** Hands a pub/sub message to its user; false when the channel is not a user channel of this node. */
  onMessage(channel: string, text: string): boolean {
    const entry = this.subs.forChannel(channel);
    if (!entry) return false;
    try {
      this.deliver(entry.userId, JSON.parse(text) as UserBusMessage);
    } catch (err) {
      this.log.error({ err, channel }, "undecodable user message");
    }
    return true;
  }

  /** Subscribes (once per user) and resolves when Redis acknowledged it. */
  async acquire(userId: string): Promise<void> {
    await this.subs.acquire(userId);
  }

  release(userId: string): void {
    this.subs.release(userId);
  }
}

interface UserSubscription {
  userId: string;
  refs: number;
  ready: Promise<void>;
}
