import { eq } from "drizzle-orm";
import type { TemplatedApp } from "uWebSockets.js";
import { ChatService, validTicketHolders } from "@seatdrop/chat";
import type { Config } from "@seatdrop/config";
import { chatRooms, type Db } from "@seatdrop/db";
import { metrics, type Logger } from "@seatdrop/observability";
import { chatTopic, chatUwsTopic, encodeChatBroadcast, encodeNewMessage, encodeNotification, messagesOf, type ChatBusMessage, type ChatMessageView, type UserBusMessage } from "@seatdrop/protocol";
import type { Keys, Redis } from "@seatdrop/redis";
import { flushSends, type Conn } from "../conn.ts";
import type { Subscriber } from "../fanout/subscriber.ts";
import type { LocalRegistry } from "../registry.ts";
import { PresenceTracker } from "./presence-tracker.ts";
import { RoomOutbox } from "./room-outbox.ts";
import { RoomFeeds } from "./room-feeds.ts";
import { UserFeeds } from "./user-feeds.ts";

/**
 * Everything chat on one ws-node: the chat service, the room and user subscriptions on the
 * node's subscriber connection, presence, and the fan-out of room events to local members through
 * uWS topics (each frame encoded once; the author's own socket left out of its message and typing).
 */
export class ChatNode {
  readonly service: ChatService;
  readonly rooms: RoomFeeds;
  readonly users: UserFeeds;
  readonly presence: PresenceTracker;
  /** The latest history page of each room, shared by the joins of a storm while no message arrives. */
  private readonly historyCache = new Map<string, { version: number; page: Promise<{ messages: ChatMessageView[]; more: boolean }> }>();
  /** Local members of each room, for a resync (phx_error makes them rejoin). */
  readonly members = new Map<string, Set<Conn>>();
  /** Local members of each room who joined with `{"batch": true}` (subscribed to the batch topic). */
  readonly batchMembers = new Map<string, Set<Conn>>();
  /** Set by the chat channel: makes a room's local members rejoin. */
  onResync: (eventId: string) => void = () => {};
  /** Set by the chat channel: removes a member whose ticket is no longer valid. */
  onRevoked: (eventId: string, conn: Conn) => void = () => {};
  readonly outbox: RoomOutbox;
  private readonly ticketTimer: NodeJS.Timeout;
  readonly db: Db;
  private readonly log: Logger;

  constructor(
    private readonly o: { app: TemplatedApp; registry: LocalRegistry; nodeId: string; config: Config; db: Db; redis: Redis; subscriber: Subscriber; keys: Keys; logger: Logger },
  ) {
    this.log = o.logger.child({ module: "chat-node" });
    this.db = o.db;
    this.service = new ChatService({ db: o.db, redis: o.redis, keys: o.keys, config: o.config, logger: o.logger });
    this.rooms = new RoomFeeds(
      o.subscriber,
      o.keys,
      this.service.bus,
      (eventId) => this.roomStatus(eventId),
      (eventId, msg) => this.deliverRoom(eventId, msg),
      (eventId) => this.onResync(eventId),
      o.logger,
      (feed) => {
        feed.speakersMax = o.config.CHAT_PRESENCE_LIST_MAX;
        feed.onSpeaker = (userId, added) => this.outbox.speaker(feed.eventId, userId, added);
      },
      (eventId) => {
        this.outbox.forget(eventId);
        this.historyCache.delete(eventId);
      },
    );
    this.outbox = new RoomOutbox(o.app, o.config.CHAT_TICK_MS, o.config.CHAT_PRESENCE_LIST_MAX, (eventId) => this.rooms.get(eventId));
    this.ticketTimer = setInterval(() => void this.recheckTickets(), o.config.CHAT_TICKET_RECHECK_MS);
    this.ticketTimer.unref();
    this.users = new UserFeeds(o.subscriber, o.keys, (userId, msg) => this.deliverUser(userId, msg), o.logger);
    this.presence = new PresenceTracker(o.redis, o.keys, this.service.bus, o.nodeId, o.config.CHAT_PRESENCE_TTL_MS, o.logger);
  }

  start(): Promise<void> {
    return this.presence.start();
  }

  /** Graceful stop: presence leaves and deregisters (after a simulated crash it does neither). */
  close(): Promise<void> {
    this.rooms.stop();
    this.outbox.stop();
    clearInterval(this.ticketTimer);
    return this.presence.close();
  }

  /**
   * The room's latest messages for a join reply. Joins of a storm share one query (2,000 joins each
   * reading the same 50 messages would keep the node's two PostgreSQL connections busy); the page
   * is reused while the feed has delivered no message or status since it was read.
   */
  latestHistory(eventId: string, roomId: string): Promise<{ messages: ChatMessageView[]; more: boolean }> {
    const feed = this.rooms.get(eventId);
    const cached = this.historyCache.get(eventId);
    if (feed && cached && cached.version === feed.messageVersion) return cached.page;
    const version = feed?.messageVersion ?? -1;
    const page = this.service.history({ roomId });
    if (feed) {
      this.historyCache.set(eventId, { version, page });
      page.catch(() => {
        if (this.historyCache.get(eventId)?.page === page) this.historyCache.delete(eventId);
      });
    }
    return page;
  }

  addMember(eventId: string, conn: Conn, batch = false): void {
    for (const m of batch ? [this.members, this.batchMembers] : [this.members]) {
      let s = m.get(eventId);
      if (!s) m.set(eventId, (s = new Set()));
      s.add(conn);
    }
  }

  removeMember(eventId: string, conn: Conn): void {
    for (const m of [this.members, this.batchMembers]) {
      const s = m.get(eventId);
      if (s?.delete(conn) && s.size === 0) m.delete(eventId);
    }
  }

  /**
   * A member whose ticket was refunded or voided no longer reads the room. Every
   * CHAT_TICKET_RECHECK_MS each room's local members are checked in one query; the ones without a
   * valid ticket are removed (`access_revoked`, then `phx_close`: the stock client does not rejoin).
   */
  private async recheckTickets(): Promise<void> {
    for (const [eventId, conns] of [...this.members]) {
      const userIds = [...new Set([...conns].map((c) => c.userId).filter((u): u is string => !!u))];
      if (userIds.length === 0) continue;
      try {
        const valid = await validTicketHolders({ db: this.o.db, eventId, userIds });
        for (const c of [...(this.members.get(eventId) ?? [])])
          if (c.userId && userIds.includes(c.userId) && !valid.has(c.userId)) {
            this.service.ticketVoided(eventId, c.userId);
            this.onRevoked(eventId, c);
          }
      } catch (err) {
        this.log.warn({ err, eventId }, "ticket re-check failed");
      }
    }
  }

  private async roomStatus(eventId: string) {
    const [room] = await this.o.db.select({ status: chatRooms.status }).from(chatRooms).where(eq(chatRooms.eventId, eventId)).limit(1);
    return room?.status ?? null;
  }

  private deliverRoom(eventId: string, msg: ChatBusMessage): void {
    const ev = msg.ev;
    const room = chatUwsTopic.room(eventId);
    const batch = chatUwsTopic.roomBatch(eventId);
    switch (ev.k) {
      case "presence":
        // Coalesced per tick (RoomOutbox); the feed has already applied it to its presence.
        this.outbox.presence(eventId, ev.joins, ev.leaves);
        return;
      case "message":
      case "messages": {
        // As in the chat service: the author hears its own message as the reply `{id}`; batch members get the tick's
        // messages (their own included) in one frame.
        const origins = ev.k === "messages" ? ev.messages.map((m) => m.o) : [msg.o];
        const views = messagesOf(ev);
        // One delivery per message per local subscriber of the room's topic, its author left out.
        const subscribers = this.o.app.numSubscribers(room);
        let delivered = 0;
        for (const [i, v] of views.entries()) delivered += subscribers - (this.publishExcept(eventId, room, encodeNewMessage(null, eventId, v), origins[i]) ? 1 : 0);
        metrics.chatDeliveries.inc(delivered);
        this.outbox.messages(eventId, views);
        return;
      }
      case "typing": {
        const frame = encodeChatBroadcast(eventId, ev);
        this.publishExcept(eventId, room, frame, msg.o);
        this.publishExcept(eventId, batch, frame, msg.o);
        return;
      }
      default: {
        // Status and slow mode are ordered with messages: the tick goes out first.
        this.outbox.flushRoom(eventId);
        const frame = encodeChatBroadcast(eventId, ev);
        flushSends(); // what sendTo queued goes out first (conn.ts)
        this.o.app.publish(room, frame, false);
        this.o.app.publish(batch, frame, false);
      }
    }
  }

  /** Publishes on a uWS topic, leaving out the local author's socket when it is subscribed to that topic (then true). */
  private publishExcept(eventId: string, topic: string, frame: string, origin: string | undefined): boolean {
    const author = this.localConn(origin);
    const onTopic = author && (topic === chatUwsTopic.roomBatch(eventId)) === !!this.batchMembers.get(eventId)?.has(author);
    if (author && onTopic && !author.closed && author.ws && author.joins.get(chatTopic(eventId))?.live) {
      flushSends(); // what sendTo queued goes out first (conn.ts)
      author.ws.publish(topic, frame, false);
      return true;
    }
    flushSends(); // what sendTo queued goes out first (conn.ts)
    this.o.app.publish(topic, frame, false);
    return false;
  }

  private deliverUser(userId: string, msg: UserBusMessage): void {
    if (msg.k !== "notification") {
      this.log.warn({ userId, kind: (msg as { k?: unknown }).k }, "unknown user message");
      return;
    }
    flushSends(); // what sendTo queued goes out first (conn.ts)
    this.o.app.publish(chatUwsTopic.user(userId), encodeNotification(userId, msg.n), false);
  }

  private localConn(origin: string | undefined): Conn | undefined {
    if (!origin) return undefined;
    const i = origin.lastIndexOf(":");
    if (origin.slice(0, i) !== this.o.nodeId) return undefined;
    return this.o.registry.conns.get(Number(origin.slice(i + 1)));
  }
}
