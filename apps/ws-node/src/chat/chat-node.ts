import { eq } from "drizzle-orm";
import type { TemplatedApp } from "uWebSockets.js";
import { ChatService } from "@seatdrop/chat";
import type { Config } from "@seatdrop/config";
import { chatRooms, type Db } from "@seatdrop/db";
import type { Logger } from "@seatdrop/observability";
import { chatTopic, chatUwsTopic, encodeChatBroadcast, encodeNotification, type ChatBusMessage, type UserBusMessage } from "@seatdrop/protocol";
import type { Keys, Redis } from "@seatdrop/redis";
import type { Conn } from "../conn.ts";
import type { LocalRegistry } from "../registry.ts";
import { PresenceTracker } from "./presence-tracker.ts";
import { RoomFeeds } from "./room-feeds.ts";
import { UserFeeds } from "./user-feeds.ts";

/**
 * Everything chat on one ws-node (issue 4): the chat service, the room and user subscriptions on the
 * node's subscriber connection, presence, and the fan-out of room events to local members through
 * uWS topics (each frame encoded once; the author's own socket left out of its message and typing).
 */
export class ChatNode {
  readonly service: ChatService;
  readonly rooms: RoomFeeds;
  readonly users: UserFeeds;
  readonly presence: PresenceTracker;
  /** Local members of each room, for a resync (phx_error makes them rejoin). */
  readonly members = new Map<string, Set<Conn>>();
  /** Set by the chat channel: makes a room's local members rejoin. */
  onResync: (eventId: string) => void = () => {};
  readonly db: Db;
  private readonly log: Logger;

  constructor(
    private readonly o: { app: TemplatedApp; registry: LocalRegistry; nodeId: string; config: Config; db: Db; redis: Redis; sub: Redis; keys: Keys; logger: Logger },
  ) {
    this.log = o.logger.child({ module: "chat-node" });
    this.db = o.db;
    this.service = new ChatService({ db: o.db, redis: o.redis, keys: o.keys, config: o.config, logger: o.logger });
    this.rooms = new RoomFeeds(
      o.sub,
      o.keys,
      this.service.bus,
      (eventId) => this.roomStatus(eventId),
      (eventId, msg) => this.deliverRoom(eventId, msg),
      (eventId) => this.onResync(eventId),
      o.logger,
    );
    this.users = new UserFeeds(o.sub, o.keys, (userId, msg) => this.deliverUser(userId, msg), o.logger);
    this.presence = new PresenceTracker(o.redis, o.keys, this.service.bus, o.nodeId, o.config.CHAT_PRESENCE_TTL_MS, o.logger);
    // The seat feeds listen on the same connection; each listener ignores channels it does not own.
    o.sub.on("message", (channel: string, text: string) => {
      if (!this.rooms.onMessage(channel, text)) this.users.onMessage(channel, text);
    });
    // ioredis says "ready" before it resubscribes; a PING queued now is answered after the SUBSCRIBE
    // acknowledgements, so the catch-up reads positions that include everything published before.
    o.sub.on("ready", () => {
      o.sub.ping().then(
        () => this.rooms.catchUpAll(),
        () => this.rooms.catchUpAll(),
      );
    });
  }

  start(): Promise<void> {
    return this.presence.start();
  }

  /** Graceful stop: presence leaves and deregisters (after a simulated crash it does neither). */
  close(): Promise<void> {
    this.rooms.stop();
    return this.presence.close();
  }

  addMember(eventId: string, conn: Conn): void {
    let s = this.members.get(eventId);
    if (!s) this.members.set(eventId, (s = new Set()));
    s.add(conn);
  }

  removeMember(eventId: string, conn: Conn): void {
    const s = this.members.get(eventId);
    if (s?.delete(conn) && s.size === 0) this.members.delete(eventId);
  }

  private async roomStatus(eventId: string) {
    const [room] = await this.o.db.select({ status: chatRooms.status }).from(chatRooms).where(eq(chatRooms.eventId, eventId)).limit(1);
    return room?.status ?? null;
  }

  private deliverRoom(eventId: string, msg: ChatBusMessage): void {
    const frame = encodeChatBroadcast(eventId, msg.ev);
    const topic = chatUwsTopic.room(eventId);
    // Seed 003: the author hears its own message as the reply `{id}` and never its own typing.
    const author = msg.ev.k === "message" || msg.ev.k === "typing" ? this.localConn(msg.o) : undefined;
    if (author && !author.closed && author.ws && author.joins.get(chatTopic(eventId))?.live) author.ws.publish(topic, frame, false);
    else this.o.app.publish(topic, frame, false);
  }

  private deliverUser(userId: string, msg: UserBusMessage): void {
    if (msg.k !== "notification") {
      this.log.warn({ userId, kind: (msg as { k?: unknown }).k }, "unknown user message");
      return;
    }
    this.o.app.publish(chatUwsTopic.user(userId), encodeNotification(userId, msg.n), false);
  }

  private localConn(origin: string | undefined): Conn | undefined {
    if (!origin) return undefined;
    const i = origin.lastIndexOf(":");
    if (origin.slice(0, i) !== this.o.nodeId) return undefined;
    return this.o.registry.conns.get(Number(origin.slice(i + 1)));
  }
}
