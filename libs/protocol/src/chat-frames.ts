import { PHX, encodePhx } from "./phoenix.ts";

/**
 * Chat rooms (`event:<eventId>`, as the chat service defined them) and personal notifications (`user:<userId>`): the
 * internal messages the chat scripts publish on Redis, and how each reads on the Phoenix wire.
 * The only place that builds chat frames.
 */

/** Event names of the chat and user channels. */
export const CHAT = {
  newMessage: "new_message",
  userTyping: "user_typing",
  roomStatus: "room_status",
  history: "history",
  notification: "notification",
  /** A tick's messages in one frame, for members who joined with `{"batch": true}`. */
  messages: "messages",
  /** The number of people online, per tick when it changed, in rooms above CHAT_PRESENCE_LIST_MAX. */
  presenceCount: "presence_count",
  /** The room's slow mode changed (`{"seconds"}`, 0 = off). */
  slowMode: "slow_mode",
  /** The member's ticket was refunded or voided: they are out of the room (then `phx_close`). */
  accessRevoked: "access_revoked",
} as const;

export type RoomStatus = "inactive" | "active";

/** One presence entry: one per joined connection (several tabs of one user are several metas). */
export interface PresenceMeta {
  phx_ref: string;
  online_at: number;
  [extra: string]: unknown;
}

/** Phoenix's presence shape: `{<user id>: {metas: [...]}}`. */
export type PresenceMap = Record<string, { metas: PresenceMeta[] }>;

/** A stored chat message as clients see it (the chat service's `new_message` plus its `content_type`). */
export interface ChatMessageView {
  id: string;
  user_id: string | null;
  content: string;
  content_type: string;
  inserted_at: string;
}

/** One stored message of a group, with the origin tag of the connection that sent it. */
export type ChatBusMessageItem = ChatMessageView & { o?: string };

/** What happened in a room, as published on its Redis channel. */
export type ChatBusEvent =
  | ({ k: "message" } & ChatMessageView)
  /** A group of messages stored together (group commit): one sequence step, in order. */
  | { k: "messages"; messages: ChatBusMessageItem[] }
  | { k: "slow_mode"; seconds: number }
  | { k: "presence"; joins: PresenceMap; leaves: PresenceMap }
  | { k: "status"; status: RoomStatus; reason?: string }
  | { k: "typing"; user_id: string; typing: boolean };

/**
 * One publish on a room's channel. `s` is the room's sequence number (0 for typing notices, which
 * are not worth ordering or repairing); `ep` the sequence's epoch; `o` the `<nodeId>:<connId>` of
 * the connection that caused it, so its node can leave that socket out.
 */
export interface ChatBusMessage {
  s: number;
  ep?: string;
  o?: string;
  ev: ChatBusEvent;
}

/** A stored notification as clients see it (REST and the `notification` push). */
export interface NotificationView {
  id: string;
  event_id: string | null;
  message: string;
  status: "unread" | "read";
  inserted_at: string;
}

/** One publish on a user's channel. */
export interface UserBusMessage {
  k: "notification";
  n: NotificationView;
}

export const chatTopic = (eventId: string) => `event:${eventId}`;
export const userTopic = (userId: string) => `user:${userId}`;

/** uWS topics inside a node for the chat and user channels (Phoenix only; the legacy seat dialect has no chat). */
export const chatUwsTopic = {
  room: (eventId: string) => `p|event:${eventId}`,
  /** Members who joined with `{"batch": true}`: messages come as one `messages` frame per tick. */
  roomBatch: (eventId: string) => `p|event:${eventId}|b`,
  user: (userId: string) => `p|user:${userId}`,
};

/** The stored messages a room event carries (none for presence, status, typing). */
export function messagesOf(ev: ChatBusEvent): ChatMessageView[] {
  if (ev.k === "message") {
    const { k: _k, ...view } = ev;
    return [view];
  }
  if (ev.k === "messages") return ev.messages.map(({ o: _o, ...view }) => view);
  return [];
}

/** One message as the chat service's `new_message` push (to every member: joinRef null). */
export function encodeNewMessage(joinRef: string | null, eventId: string, view: ChatMessageView): string {
  return encodePhx(joinRef, null, chatTopic(eventId), CHAT.newMessage, view as unknown as Record<string, unknown>);
}

/** A tick's messages, oldest first, as one `messages` frame (members who joined with `{"batch": true}`). */
export function encodeMessagesFrame(joinRef: string | null, eventId: string, views: ChatMessageView[]): string {
  return encodePhx(joinRef, null, chatTopic(eventId), CHAT.messages, { messages: views });
}

/** A presence diff (one per room per tick), as the stock Presence reads it. */
export function encodePresenceDiff(eventId: string, joins: PresenceMap, leaves: PresenceMap): string {
  return encodePhx(null, null, chatTopic(eventId), PHX.presenceDiff, { joins, leaves });
}

/** The online count of a large room. */
export function encodePresenceCount(eventId: string, online: number): string {
  return encodePhx(null, null, chatTopic(eventId), CHAT.presenceCount, { online });
}

/** The Phoenix push (event name and payload) of a room event; a group of messages is several pushes (see messagesOf). */
export function chatPush(ev: Exclude<ChatBusEvent, { k: "messages" }>): { event: string; payload: Record<string, unknown> } {
  switch (ev.k) {
    case "message": {
      const { k: _k, ...view } = ev;
      return { event: CHAT.newMessage, payload: view };
    }
    case "presence":
      return { event: PHX.presenceDiff, payload: { joins: ev.joins, leaves: ev.leaves } };
    case "status":
      return { event: CHAT.roomStatus, payload: ev.reason ? { status: ev.status, reason: ev.reason } : { status: ev.status } };
    case "typing":
      return { event: CHAT.userTyping, payload: { user_id: ev.user_id, typing: ev.typing } };
    case "slow_mode":
      return { event: CHAT.slowMode, payload: { seconds: ev.seconds } };
  }
}

/** A room event as a broadcast frame (`[null, null, topic, event, payload]`), encoded once for every watcher. */
export function encodeChatBroadcast(eventId: string, ev: Exclude<ChatBusEvent, { k: "messages" }>): string {
  const p = chatPush(ev);
  return encodePhx(null, null, chatTopic(eventId), p.event, p.payload);
}

/** A room event addressed to one joined connection (catch-up right after its join). */
export function encodeChatPush(joinRef: string, eventId: string, ev: Exclude<ChatBusEvent, { k: "messages" }>): string {
  const p = chatPush(ev);
  return encodePhx(joinRef, null, chatTopic(eventId), p.event, p.payload);
}

/** `presence_state`, sent right after the join reply (the client ignores diffs until it has it). */
export function encodePresenceState(joinRef: string, eventId: string, state: PresenceMap): string {
  return encodePhx(joinRef, null, chatTopic(eventId), PHX.presenceState, state);
}

/** A notification pushed to every connection of its user. */
export function encodeNotification(userId: string, n: NotificationView): string {
  return encodePhx(null, null, userTopic(userId), CHAT.notification, n);
}

/** Turns presence entries (each with its `user_id`) into Phoenix's map keyed by user id. */
export function presenceMapOf(entries: Iterable<PresenceMeta & { user_id: string }>): PresenceMap {
  const out: PresenceMap = {};
  for (const { user_id, ...meta } of entries) (out[user_id] ??= { metas: [] }).metas.push(meta as PresenceMeta);
  return out;
}
