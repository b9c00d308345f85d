import type { Logger } from "@seatdrop/observability";
import { userBusMessageSchema, type UserBusMessage } from "@seatdrop/protocol";
import type { Keys } from "@seatdrop/redis";
import { ChannelSubscriptions } from "../fanout/channel-subscriptions.ts";
import type { Subscriber } from "../fanout/subscriber.ts";

/**
 * Subscriptions to users' personal channels (topic `user:<userId>`), one Redis channel per user with
 * a joined connection on this node, reference counted. Notifications are not sequenced: each is
 * stored in PostgreSQL first, and a join's reply lists the unread ones, so a lost push costs nothing.
 */
export class UserFeeds {
  private readonly subs: ChannelSubscriptions<UserSubscription, typeof userBusMessageSchema>;
  private readonly log: Logger;

  constructor(
    subscriber: Subscriber,
    keys: Keys,
    deliver: (userId: string, msg: UserBusMessage) => void,
    logger: Logger,
  ) {
    this.log = logger.child({ module: "user-feeds" });
    this.subs = new ChannelSubscriptions<UserSubscription, typeof userBusMessageSchema>({
      subscriber,
      channelOf: (userId) => keys.userChannel(userId),
      create: (userId, subscribed) => ({ userId, refs: 0, ready: subscribed.then(() => undefined) }),
      schema: userBusMessageSchema,
      what: "user message",
      onMessage: (entry, msg) => deliver(entry.userId, msg),
      log: this.log,
    });
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
