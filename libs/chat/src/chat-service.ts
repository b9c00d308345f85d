import type { Config } from "@seatdrop/config";
import type { Db } from "@seatdrop/db";
import type { Logger } from "@seatdrop/observability";
import type { ChatMessageView } from "@seatdrop/protocol";
import type { Keys, Redis } from "@seatdrop/redis";
import { ChatBus } from "./chat-bus.ts";
import { checkMessage } from "./content.ts";
import { messageHistory, storeMessage } from "./messages.ts";
import { admitToRoom, type AdmittedTicket, type RoomRef } from "./room-access.ts";

export type ChatConfig = Pick<Config, "CHAT_MAX_MESSAGE_LENGTH" | "CHAT_RATE" | "CHAT_RATE_WINDOW_MS" | "CHAT_TYPING_THROTTLE_MS" | "CHAT_HISTORY_LIMIT">;

export interface ChatServiceDeps {
  db: Db;
  redis: Redis;
  keys: Keys;
  config: ChatConfig;
  logger: Logger;
}

/**
 * What a chat room member can do, whatever the wire: get in with a ticket, post, type, page back.
 * Checks come first (content, then the per-user rate), PostgreSQL stores the message (only while
 * the room is active), then ONE script gives it its place in the room's order and publishes it.
 */
export class ChatService {
  readonly bus: ChatBus;
  private readonly log: Logger;

  constructor(private readonly deps: ChatServiceDeps) {
    this.bus = new ChatBus(deps.redis, deps.keys);
    this.log = deps.logger.child({ module: "chat-service" });
  }

  get config(): ChatConfig {
    return this.deps.config;
  }

  /** Lets a ticket holder into an event's room (see {@link admitToRoom}). */
  admit(o: { eventId: string; userId: string; ticketNumber?: string }): Promise<{ room: RoomRef; ticket: AdmittedTicket }> {
    return admitToRoom({ db: this.deps.db, ...o });
  }

  /**
   * Validates, rate-limits, stores and publishes a message; resolves with the stored message. The
   * message is stored before it is published: if the publish fails the sender gets an error but the
   * message is kept and shows in history, never the other way round.
   */
  async post(o: { eventId: string; roomId: string; userId: string; payload: Record<string, unknown>; origin: string }): Promise<ChatMessageView> {
    const { content, contentType } = checkMessage(o.payload, this.deps.config.CHAT_MAX_MESSAGE_LENGTH);
    await this.bus.takeMessageSlot({ eventId: o.eventId, userId: o.userId, limit: this.deps.config.CHAT_RATE, windowMs: this.deps.config.CHAT_RATE_WINDOW_MS });
    const view = await storeMessage({ db: this.deps.db, roomId: o.roomId, userId: o.userId, content, contentType });
    try {
      await this.bus.emit(o.eventId, { k: "message", ...view }, o.origin);
    } catch (err) {
      this.log.error({ err, eventId: o.eventId, messageId: view.id }, "message stored but not published");
      throw err;
    }
    return view;
  }

  /** Publishes a typing notice (throttled per user and kind); false when throttled. */
  typing(o: { eventId: string; userId: string; typing: boolean; origin: string }): Promise<boolean> {
    return this.bus.typing({ ...o, throttleMs: this.deps.config.CHAT_TYPING_THROTTLE_MS });
  }

  history(o: { roomId: string; before?: string; limit?: number }): Promise<{ messages: ChatMessageView[]; more: boolean }> {
    const limit = Math.min(o.limit ?? this.deps.config.CHAT_HISTORY_LIMIT, this.deps.config.CHAT_HISTORY_LIMIT);
    return messageHistory({ db: this.deps.db, roomId: o.roomId, limit, ...(o.before !== undefined ? { before: o.before } : {}) });
  }
}
