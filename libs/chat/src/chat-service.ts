import type { Config } from "@seatdrop/config";
import type { Db } from "@seatdrop/db";
import type { Logger } from "@seatdrop/observability";
import type { ChatMessageView } from "@seatdrop/protocol";
import type { Keys, Redis } from "@seatdrop/redis";
import { ChatBus } from "./chat-bus.ts";
import { ChatError } from "./errors.ts";
import { checkMessage } from "./content.ts";
import { RoomPipeline } from "./message-pipeline.ts";
import { messageHistory } from "./messages.ts";
import { admitToRoom, validTicketHolders, type AdmittedTicket, type RoomRef } from "./room-access.ts";

export type ChatConfig = Pick<
  Config,
  "CHAT_MAX_MESSAGE_LENGTH" | "CHAT_RATE" | "CHAT_RATE_WINDOW_MS" | "CHAT_TYPING_THROTTLE_MS" | "CHAT_HISTORY_LIMIT" | "CHAT_BATCH_MAX" | "CHAT_QUEUE_MAX_MS" | "CHAT_TICKET_RECHECK_MS"
>;

export interface ChatServiceDeps {
  db: Db;
  redis: Redis;
  keys: Keys;
  config: ChatConfig;
  logger: Logger;
}

/**
 * What a chat room member can do, whatever the wire: get in with a ticket, post, type, page back.
 * Checks come first (content, then the per-user rate and slow mode), then the room's pipeline on
 * this node stores messages in groups (only while the room is active) and ONE script per group
 * gives them their place in the room's order and publishes them (see RoomPipeline).
 */
export class ChatService {
  readonly bus: ChatBus;
  private readonly log: Logger;
  private readonly pipelines = new Map<string, RoomPipeline>();

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
   * Validates, rate-limits, stores and publishes a message; resolves with the stored message once it
   * is in PostgreSQL and announced. The message is stored before it is published: if the publish
   * fails the sender gets an error but the message is kept and shows in history, never the other
   * way round. A room whose pipeline is behind refuses at once (`rate_limited`, `retry_after_ms`).
   */
  async post(o: { eventId: string; roomId: string; userId: string; payload: Record<string, unknown>; origin: string }): Promise<ChatMessageView> {
    const { content, contentType } = checkMessage(o.payload, this.deps.config.CHAT_MAX_MESSAGE_LENGTH);
    // Refused before a slot is taken: a message the room cannot take does not count against the member.
    this.pipelines.get(o.eventId)?.checkBacklog();
    await this.bus.takeMessageSlot({ eventId: o.eventId, userId: o.userId, limit: this.deps.config.CHAT_RATE, windowMs: this.deps.config.CHAT_RATE_WINDOW_MS });
    return this.pipeline(o.eventId, o.roomId).submit({ userId: o.userId, content, contentType, origin: o.origin });
  }

  private pipeline(eventId: string, roomId: string): RoomPipeline {
    let p = this.pipelines.get(eventId);
    if (!p) {
      p = new RoomPipeline({
        db: this.deps.db,
        bus: this.bus,
        eventId,
        roomId,
        batchMax: this.deps.config.CHAT_BATCH_MAX,
        queueMaxMs: this.deps.config.CHAT_QUEUE_MAX_MS,
        log: this.log,
        onIdle: () => {
          if (this.pipelines.get(eventId) === p) this.pipelines.delete(eventId);
        },
      });
      this.pipelines.set(eventId, p);
    }
    return p;
  }

  /**
   * Publishes a typing notice (throttled per user and kind); false when throttled. A member whose
   * ticket was voided since joining is refused (`ticket_void`).
   */
  async typing(o: { eventId: string; userId: string; typing: boolean; origin: string }): Promise<boolean> {
    await this.requireTicket(o.eventId, o.userId);
    return this.bus.typing({ ...o, throttleMs: this.deps.config.CHAT_TYPING_THROTTLE_MS });
  }

  /** (event, user) pairs found holding a valid ticket, and until when that answer is trusted. */
  private readonly ticketChecked = new Map<string, number>();

  /**
   * Throws `ticket_void` unless the user holds a valid ticket for the event, so a refunded member
   * loses the room. A positive answer is trusted for CHAT_TICKET_RECHECK_MS, so typing in a big
   * room is not a query per notice; the nodes' periodic re-check removes a refunded member within
   * the same bound.
   */
  async requireTicket(eventId: string, userId: string): Promise<void> {
    const key = `${eventId}|${userId}`;
    const until = this.ticketChecked.get(key);
    if (until !== undefined && until > Date.now()) return;
    const held = await validTicketHolders({ db: this.deps.db, eventId, userIds: [userId] });
    if (!held.has(userId)) {
      this.ticketChecked.delete(key);
      throw new ChatError("ticket_void", "you no longer hold a valid ticket for this event");
    }
    if (this.ticketChecked.size > 100_000) this.ticketChecked.clear();
    this.ticketChecked.set(key, Date.now() + this.deps.config.CHAT_TICKET_RECHECK_MS);
  }

  /** Forgets a trusted answer (the node found the ticket void). */
  ticketVoided(eventId: string, userId: string): void {
    this.ticketChecked.delete(`${eventId}|${userId}`);
  }

  /** A page of history, for a member who still holds a valid ticket. */
  async memberHistory(o: { eventId: string; userId: string; roomId: string; before?: string; limit?: number }): Promise<{ messages: ChatMessageView[]; more: boolean }> {
    await this.requireTicket(o.eventId, o.userId);
    return this.history(o);
  }

  history(o: { roomId: string; before?: string; limit?: number }): Promise<{ messages: ChatMessageView[]; more: boolean }> {
    const limit = Math.min(o.limit ?? this.deps.config.CHAT_HISTORY_LIMIT, this.deps.config.CHAT_HISTORY_LIMIT);
    return messageHistory({ db: this.deps.db, roomId: o.roomId, limit, ...(o.before !== undefined ? { before: o.before } : {}) });
  }
}
