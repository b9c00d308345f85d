import { ChatError } from "@seatdrop/chat";
import {
  CHAT,
  chatHistoryPayload,
  chatJoinPayload,
  chatTopic,
  chatTypingPayload,
  chatUwsTopic,
  encodeChatPush,
  encodeMessagesFrame,
  encodeNewMessage,
  encodePresenceCount,
  encodePresenceState,
  isUuid,
  messagesOf,
  parsePush,
  type ChatBusMessage,
  type ChatMessageView,
} from "@seatdrop/protocol";
import type { Conn } from "../conn.ts";
import type { NodeContext } from "../context.ts";
import { Refusal, type ChannelModule, type Joining, type Pushing } from "./channel.ts";
import type { ChannelRuntime } from "./runtime.ts";

/** What one live chat join holds. */
interface ChatAssigns {
  eventId: string;
  roomId: string;
  /** The member's messages are stored one after another, so two quick ones keep their order. */
  posting: Promise<unknown>;
}

type History = Awaited<ReturnType<NodeContext["chat"]["latestHistory"]>>;

/**
 * `event:<eventId>`: the chat service's chat room. Joining needs a ticket (the caller's own, or a
 * `ticket_number` that is validated, associated and marked used); the reply carries the room's
 * status and latest messages, then `presence_state` follows. Pushes: `new_message`, `user_typing`,
 * `history`. Everything a member hears comes from the room's ordered feed (see chat/room-feeds.ts).
 * A join with `{"batch": true}` (like seats' `{"changes": true}`) receives the messages of each tick
 * as one `messages` frame instead of one `new_message` each.
 */
export class ChatChannel implements ChannelModule<ChatAssigns> {
  readonly label = "chat";

  constructor(
    private readonly ctx: NodeContext,
    private readonly runtime: ChannelRuntime,
  ) {
    ctx.chat.onResync = (eventId) => this.resyncRoom(eventId);
    ctx.chat.onRevoked = (eventId, conn) => this.revoke(eventId, conn);
  }

  async join(j: Joining<ChatAssigns>): Promise<void> {
    const { chat } = this.ctx;
    const { conn } = j;
    const eventId = j.subtopic;
    if (!conn.userId) return j.refuse({ reason: "unauthorized", message: "sign in (connect with a token) to join a chat room" });
    // Event ids are lower-case UUIDs: broadcasts go out on the canonical topic only.
    if (!isUuid(eventId)) return j.refuse({ reason: "unknown_event", message: `no event ${eventId} (event ids are lower-case UUIDs)` });
    const parsed = parsePush(chatJoinPayload, j.payload);
    if (!parsed.ok) return j.refuse({ ...parsed.error });
    const { ticket_number: ticketNumber } = parsed.value;
    const batch = parsed.value.batch === true;
    let room;
    try {
      ({ room } = await chat.service.admit({ eventId, userId: conn.userId, ...(typeof ticketNumber === "string" ? { ticketNumber } : {}) }));
    } catch (err) {
      if (err instanceof ChatError) return j.refuse(err.toResponse());
      throw err;
    }
    if (!j.current()) return;
    const feed = await chat.rooms.acquire(eventId);
    j.onLeave(() => chat.rooms.release(eventId));
    const caught = await this.catchUp(j, feed, room.id);
    if (!caught) return;
    // Same tick from here on: subscribe, reply, then what the feed delivered while history loaded.
    chat.addMember(eventId, conn, batch);
    j.onLeave(() => chat.removeMember(eventId, conn));
    j.subscribe(batch ? chatUwsTopic.roomBatch(eventId) : chatUwsTopic.room(eventId));
    const { history, missed } = caught;
    j.accept({ user_id: conn.userId, room_id: room.id, status: feed.status, messages: history.messages, more: history.more }, { eventId, roomId: room.id, posting: Promise.resolve() });
    replayMissed(j, missed, new Set(history.messages.map((m) => m.id)), batch);
    await this.trackPresence(j);
  }

  /**
   * The room's latest history and what the room emitted while it loaded (from the feed's ring, else
   * from the room's log). A join storm moves the room on fast (presence groups are sequenced too),
   * and a slow history read can fall behind what the ring and the log keep: then read again rather
   * than refuse (measured: refusing instead, 905 of 2,000 joins of a storm were refused).
   */
  private async catchUp(j: Joining<ChatAssigns>, feed: Awaited<ReturnType<NodeContext["chat"]["rooms"]["acquire"]>>, roomId: string): Promise<{ history: History; missed: ChatBusMessage[] } | undefined> {
    const { chat } = this.ctx;
    const eventId = j.subtopic;
    for (let attempt = 0; attempt < 3; attempt++) {
      const since = feed.lastSeq;
      const history = await chat.latestHistory(eventId, roomId);
      if (!j.current()) return undefined;
      const missed = await feed.itemsSince(since, j.current);
      if (missed === undefined) return undefined;
      if (missed !== null) return { history, missed };
    }
    j.refuse({ reason: "internal_error", message: "the room moved on while you joined; join again" });
    return undefined;
  }

  /**
   * After the reply: the member's presence is tracked, and once the node's copy of the room
   * includes it, `presence_state` follows. A failure here is logged, not replied: the join already
   * answered ok, and the member can talk; only their presence is missing.
   */
  private async trackPresence(j: Joining<ChatAssigns>): Promise<void> {
    const { chat } = this.ctx;
    const eventId = j.subtopic;
    let tracked;
    try {
      tracked = await chat.presence.track(eventId, j.conn.userId!, j.conn.tag);
    } catch (err) {
      this.ctx.logger.error({ err, eventId }, "presence tracking failed");
      return;
    }
    const field = tracked.field;
    j.onLeave(() => chat.presence.untrack(field));
    const roomFeed = chat.rooms.get(eventId);
    if (!roomFeed || !j.current()) return;
    await roomFeed.waitFor(tracked.seq);
    if (!j.current()) return;
    // The list-or-speakers view is settled against the current count first, so a joiner of a storm
    // never gets the whole list of a room that has just grown past the bound.
    chat.outbox.settle(eventId);
    const big = chat.outbox.isBig(eventId);
    j.push(encodePresenceState(j.join.joinRef, eventId, roomFeed.presenceView(big)));
    if (big) j.push(encodePresenceCount(eventId, roomFeed.online));
  }

  async handle(p: Pushing<ChatAssigns>): Promise<Record<string, unknown>> {
    const { chat } = this.ctx;
    const { conn, assigns, payload } = p;
    const { eventId } = assigns;
    const userId = conn.userId!; // a chat join needs a signed-in user
    try {
      switch (p.event) {
        case CHAT.newMessage: {
          const posted = assigns.posting.then(() => chat.service.post({ eventId, roomId: assigns.roomId, userId, payload, origin: conn.tag }));
          // The chain only orders this socket's posts; each post's own failure is answered to its author.
          assigns.posting = posted.then(
            () => undefined,
            () => undefined,
          );
          const m = await posted;
          return { id: m.id, inserted_at: m.inserted_at };
        }
        case CHAT.userTyping: {
          const parsed = parsePush(chatTypingPayload, payload);
          if (!parsed.ok) throw new Refusal({ ...parsed.error });
          if (chat.rooms.get(eventId)?.status !== "active") throw new Refusal({ reason: "chat_inactive", message: "the chat room is not active yet" });
          const sent = await chat.service.typing({ eventId, userId, typing: parsed.value.typing, origin: conn.tag });
          return sent ? {} : { throttled: true };
        }
        case CHAT.history: {
          const parsed = parsePush(chatHistoryPayload(chat.service.config.CHAT_HISTORY_LIMIT), payload);
          if (!parsed.ok) throw new Refusal({ ...parsed.error });
          const { before, limit } = parsed.value;
          const page = await chat.service.memberHistory({ eventId, userId, roomId: assigns.roomId, ...(before ? { before } : {}), ...(limit !== undefined ? { limit } : {}) });
          return { messages: page.messages, more: page.more };
        }
        default:
          throw new Refusal({ reason: "unsupported_event", message: `chat rooms accept new_message, user_typing and history, not ${p.event}` });
      }
    } catch (err) {
      if (err instanceof ChatError) throw new Refusal(err.toResponse() as Refusal["response"]);
      throw err;
    }
  }

  /**
   * The member's ticket was refunded or voided. They leave the room (presence, fan-out) and
   * hear `access_revoked`, then `phx_close`, after which the stock client does not rejoin.
   */
  private revoke(eventId: string, conn: Conn): void {
    const join = conn.joins.get(chatTopic(eventId));
    if (!join) return;
    this.runtime.close(conn, join, { event: CHAT.accessRevoked, payload: { reason: "ticket_void", message: "your ticket for this event is no longer valid" } });
  }

  /** The room's order broke (Redis lost it, or the log no longer covers a gap): members rejoin and reload. */
  private resyncRoom(eventId: string): void {
    for (const conn of [...(this.ctx.chat.members.get(eventId) ?? [])]) {
      const join = conn.joins.get(chatTopic(eventId));
      if (join) this.runtime.crash(conn, join, "resync");
    }
  }
}

/** What the room emitted while the joiner's history loaded, minus what the history shows (presence_state supersedes presence). */
function replayMissed(j: Joining<ChatAssigns>, missed: readonly ChatBusMessage[], shown: ReadonlySet<string>, batch: boolean): void {
  const { joinRef } = j.join;
  const eventId = j.subtopic;
  let tick: ChatMessageView[] = [];
  const flushTick = () => {
    if (tick.length > 0) j.push(encodeMessagesFrame(joinRef, eventId, tick));
    tick = [];
  };
  for (const m of missed) {
    const ev = m.ev;
    if (ev.k === "presence") continue;
    if (ev.k === "message" || ev.k === "messages") {
      const views = messagesOf(ev).filter((v) => !shown.has(v.id));
      if (batch) tick.push(...views);
      else for (const v of views) j.push(encodeNewMessage(joinRef, eventId, v));
      continue;
    }
    flushTick();
    j.push(encodeChatPush(joinRef, eventId, ev));
  }
  flushTick();
}
