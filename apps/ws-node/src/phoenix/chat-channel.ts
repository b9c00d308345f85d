import { ChatError } from "@seatdrop/chat";
import { joinRefusal, metrics } from "@seatdrop/observability";
import {
  CHAT,
  PHX,
  chatHistoryPayload,
  chatJoinPayload,
  chatTopic,
  chatTypingPayload,
  chatUwsTopic,
  encodeChatPush,
  encodeMessagesFrame,
  encodeNewMessage,
  encodePhx,
  encodePresenceCount,
  encodePresenceState,
  encodeReply,
  isUuid,
  messagesOf,
  parsePush,
  type ChatBusMessage,
  type ChatMessageView,
} from "@seatdrop/protocol";
import { sendTo, type Conn, type Join } from "../conn.ts";
import type { NodeContext } from "../context.ts";
import type { Channel } from "./channel.ts";

/** What one live chat join holds, to be released on leave. */
interface ChatJoin {
  roomId: string;
  /** The presence field, once tracked. */
  field?: string;
  /** The member's messages are stored one after another, so two quick ones keep their order. */
  posting: Promise<unknown>;
  /** Joined with `{"batch": true}`: messages arrive as one `messages` frame per tick. */
  batch: boolean;
}

/**
 * `event:<eventId>`: the chat service's chat room. Joining needs a ticket (the caller's own, or a
 * `ticket_number` that is validated, associated and marked used); the reply carries the room's
 * status and latest messages, then `presence_state` follows. Pushes: `new_message`, `user_typing`,
 * `history`. Everything a member hears comes from the room's ordered feed (see chat/room-feeds.ts).
 * A join with `{"batch": true}` (like seats' `{"changes": true}`) receives the messages of each tick
 * as one `messages` frame instead of one `new_message` each.
 */
export class ChatChannel implements Channel {
  private readonly state = new WeakMap<Join, ChatJoin>();

  constructor(private readonly ctx: NodeContext) {
    ctx.chat.onResync = (eventId) => this.resyncRoom(eventId);
    ctx.chat.onRevoked = (eventId, conn) => this.revoke(eventId, conn);
  }

  async join(conn: Conn, join: Join, ref: string | null, payload: Record<string, unknown>): Promise<void> {
    const { chat } = this.ctx;
    const current = () => !conn.closed && conn.joins.get(join.topic) === join;
    const refuse = (response: Record<string, unknown>) => {
      metrics.joinsRefused.inc({ channel: "chat", reason: joinRefusal(response.reason) });
      if (current()) conn.joins.delete(join.topic);
      sendTo(conn, encodeReply(join.joinRef, ref, join.topic, "error", response));
    };
    if (!conn.userId) return refuse({ reason: "unauthorized", message: "sign in (connect with a token) to join a chat room" });
    // Event ids are lower-case UUIDs: broadcasts go out on the canonical topic only.
    if (!isUuid(join.eventId)) return refuse({ reason: "unknown_event", message: `no event ${join.eventId} (event ids are lower-case UUIDs)` });
    const parsed = parsePush(chatJoinPayload, payload);
    if (!parsed.ok) return refuse({ ...parsed.error });
    const { ticket_number: ticketNumber } = parsed.value;
    const batch = parsed.value.batch === true;

    let room;
    try {
      ({ room } = await chat.service.admit({ eventId: join.eventId, userId: conn.userId, ...(typeof ticketNumber === "string" ? { ticketNumber } : {}) }));
    } catch (err) {
      if (err instanceof ChatError) return refuse(err.toResponse());
      throw err;
    }
    if (!current()) return;

    const feed = await chat.rooms.acquire(join.eventId);
    let committed = false;
    try {
      // A join storm moves the room on fast (presence groups are sequenced too), and a slow history
      // read can fall behind what the ring and the log keep: then read again rather than refuse
      // (measured: refusing instead, 905 of 2,000 joins of a storm were refused).
      let history: Awaited<ReturnType<typeof chat.latestHistory>> | undefined;
      let missed: ChatBusMessage[] | null = null;
      for (let attempt = 0; attempt < 3 && missed === null; attempt++) {
        const since = feed.lastSeq;
        history = await chat.latestHistory(join.eventId, room.id);
        if (!current()) return;
        // What the room emitted while history loaded: from the feed's ring, else from the room's log.
        missed = feed.eventsSince(since);
        if (missed === null) {
          const upTo = feed.lastSeq;
          const logged = await chat.service.bus.readLog(join.eventId, since + 1, upTo);
          if (!current()) return;
          const tail = feed.eventsSince(upTo);
          missed = logged && tail ? [...logged, ...tail] : null;
        }
      }
      if (missed === null || !history) return refuse({ reason: "internal_error", message: "the room moved on while you joined; join again" });
      // Same tick from here on: subscribe, reply, then what the feed delivered while history loaded.
      committed = true;
      join.live = true;
      this.state.set(join, { roomId: room.id, posting: Promise.resolve(), batch });
      chat.addMember(join.eventId, conn, batch);
      conn.ws!.subscribe(batch ? chatUwsTopic.roomBatch(join.eventId) : chatUwsTopic.room(join.eventId));
      sendTo(
        conn,
        encodeReply(join.joinRef, ref, join.topic, "ok", {
          user_id: conn.userId,
          room_id: room.id,
          status: feed.status,
          messages: history.messages,
          more: history.more,
        }),
      );
      const shown = new Set(history.messages.map((m) => m.id));
      let tick: ChatMessageView[] = [];
      const flushTick = () => {
        if (tick.length > 0) sendTo(conn, encodeMessagesFrame(join.joinRef, join.eventId, tick));
        tick = [];
      };
      for (const m of missed) {
        const ev = m.ev;
        if (ev.k === "presence") continue; // presence_state below supersedes these
        if (ev.k === "message" || ev.k === "messages") {
          const views = messagesOf(ev).filter((v) => !shown.has(v.id));
          if (batch) tick.push(...views);
          else for (const v of views) sendTo(conn, encodeNewMessage(join.joinRef, join.eventId, v));
          continue;
        }
        flushTick();
        sendTo(conn, encodeChatPush(join.joinRef, join.eventId, ev));
      }
      flushTick();
    } finally {
      if (!committed) chat.rooms.release(join.eventId);
    }

    let tracked;
    try {
      tracked = await chat.presence.track(join.eventId, conn.userId, conn.tag);
    } catch (err) {
      // The member is in and can talk; only their presence is missing. The join already answered ok,
      // so this is logged rather than replied.
      this.ctx.logger.error({ err, eventId: join.eventId }, "presence tracking failed");
      return;
    }
    let st = this.state.get(join);
    if (!st || !join.live || !current()) {
      chat.presence.untrack(tracked.field);
      return;
    }
    st.field = tracked.field;
    // The node's own copy of the room's presence includes this entry once the feed applied its diff.
    const roomFeed = chat.rooms.get(join.eventId);
    if (!roomFeed) return;
    await roomFeed.waitFor(tracked.seq);
    st = this.state.get(join);
    if (!st || !join.live || !current()) return;
    // The list-or-speakers view is settled against the current count first, so a joiner of a storm
    // never gets the whole list of a room that has just grown past the bound.
    chat.outbox.settle(join.eventId);
    const big = chat.outbox.isBig(join.eventId);
    sendTo(conn, encodePresenceState(join.joinRef, join.eventId, roomFeed.presenceView(big)));
    if (big) sendTo(conn, encodePresenceCount(join.eventId, roomFeed.online));
  }

  async handle(conn: Conn, join: Join, ref: string | null, event: string, payload: Record<string, unknown>): Promise<void> {
    const { chat } = this.ctx;
    const reply = (status: "ok" | "error", response: Record<string, unknown>) => {
      if (conn.joins.get(join.topic) === join) sendTo(conn, encodeReply(join.joinRef, ref, join.topic, status, response));
    };
    const st = this.state.get(join);
    if (!st || !conn.userId) {
      reply("error", { reason: "not_joined", message: `join ${join.topic} before pushing to it` });
      return;
    }
    try {
      switch (event) {
        case CHAT.newMessage: {
          const userId = conn.userId;
          const posted = st.posting.then(() => chat.service.post({ eventId: join.eventId, roomId: st.roomId, userId, payload, origin: conn.tag }));
          // The chain only orders this socket's posts; each post's own failure is answered to its author below.
          st.posting = posted.then(
            () => undefined,
            () => undefined,
          );
          const m = await posted;
          reply("ok", { id: m.id, inserted_at: m.inserted_at });
          return;
        }
        case CHAT.userTyping: {
          const parsed = parsePush(chatTypingPayload, payload);
          if (!parsed.ok) {
            reply("error", { ...parsed.error });
            return;
          }
          if (chat.rooms.get(join.eventId)?.status !== "active") {
            reply("error", { reason: "chat_inactive", message: "the chat room is not active yet" });
            return;
          }
          const sent = await chat.service.typing({ eventId: join.eventId, userId: conn.userId, typing: parsed.value.typing, origin: conn.tag });
          reply("ok", sent ? {} : { throttled: true });
          return;
        }
        case CHAT.history: {
          const parsed = parsePush(chatHistoryPayload(chat.service.config.CHAT_HISTORY_LIMIT), payload);
          if (!parsed.ok) {
            reply("error", { ...parsed.error });
            return;
          }
          const { before, limit } = parsed.value;
          const page = await chat.service.memberHistory({
            eventId: join.eventId,
            userId: conn.userId,
            roomId: st.roomId,
            ...(before ? { before } : {}),
            ...(limit !== undefined ? { limit } : {}),
          });
          reply("ok", { messages: page.messages, more: page.more });
          return;
        }
        default:
          reply("error", { reason: "unsupported_event", message: `chat rooms accept new_message, user_typing and history, not ${event}` });
      }
    } catch (err) {
      if (err instanceof ChatError) reply("error", err.toResponse());
      else throw err;
    }
  }

  leave(conn: Conn, join: Join): void {
    const st = this.state.get(join);
    if (!join.live || !st) return;
    join.live = false;
    this.state.delete(join);
    if (!conn.closed && conn.ws) conn.ws.unsubscribe(st.batch ? chatUwsTopic.roomBatch(join.eventId) : chatUwsTopic.room(join.eventId));
    this.ctx.chat.removeMember(join.eventId, conn);
    this.ctx.chat.rooms.release(join.eventId);
    if (st.field) this.ctx.chat.presence.untrack(st.field, conn.tag);
  }

  /**
   * The member's ticket was refunded or voided. They leave the room (presence, fan-out) and
   * hear `access_revoked`, then `phx_close`, after which the stock client does not rejoin.
   */
  private revoke(eventId: string, conn: Conn): void {
    const join = conn.joins.get(chatTopic(eventId));
    if (!join) return;
    this.leave(conn, join);
    conn.joins.delete(join.topic);
    sendTo(conn, encodePhx(join.joinRef, null, join.topic, CHAT.accessRevoked, { reason: "ticket_void", message: "your ticket for this event is no longer valid" }));
    sendTo(conn, encodePhx(join.joinRef, join.joinRef, join.topic, PHX.close, {}));
  }

  /** The room's order broke (Redis lost it, or the log no longer covers a gap): members rejoin and reload. */
  private resyncRoom(eventId: string): void {
    for (const conn of [...(this.ctx.chat.members.get(eventId) ?? [])]) {
      const join = conn.joins.get(chatTopic(eventId));
      if (!join) continue;
      this.leave(conn, join);
      conn.joins.delete(join.topic);
      sendTo(conn, encodePhx(join.joinRef, join.joinRef, join.topic, PHX.error, { reason: "resync" }));
    }
  }
}
