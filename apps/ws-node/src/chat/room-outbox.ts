import { metrics } from "@seatdrop/observability";
import { flushSends } from "../conn.ts";
import type { TemplatedApp } from "uWebSockets.js";
import {
  chatTopic,
  chatUwsTopic,
  encodeMessagesFrame,
  encodePhx,
  encodePresenceCount,
  encodePresenceDiff,
  PHX,
  type ChatMessageView,
  type PresenceMap,
} from "@seatdrop/protocol";
import type { RoomFeed } from "./room-feeds.ts";

/** What one room has waiting for the next tick. */
interface Pending {
  joins: PresenceMap;
  leaves: PresenceMap;
  /** Messages for members who joined with `{"batch": true}`, oldest first. */
  messages: ChatMessageView[];
}

/**
 * Per-tick delivery of one node's rooms.
 *
 * Presence: every diff a room's feed applies during a tick is merged into ONE `presence_diff`
 * (joins and leaves of the tick together; the stock `Presence` applies joins, then leaves, so an
 * entry that came and went within the tick ends up absent, as it should). A join storm of N members
 * costs each member a diff per tick instead of one per join.
 *
 * Large rooms: above CHAT_PRESENCE_LIST_MAX people online, members see the presence of the room's
 * recent speakers only (the people whose messages they read), plus `presence_count` `{online}`
 * once per tick when it changed. Crossing the bound (with 10 % hysteresis) broadcasts a fresh
 * `presence_state` of the new view, which the stock `Presence` turns into the right joins and leaves.
 *
 * Messages for members who opted in with `{"batch": true}`: one `messages` frame per tick, in order.
 * Other events (status, slow mode) flush the room's tick first, so nobody sees them out of order.
 */
export class RoomOutbox {
  private readonly pending = new Map<string, Pending>();
  private readonly big = new Set<string>();
  private readonly lastCount = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly app: TemplatedApp,
    private readonly tickMs: number,
    private readonly listMax: number,
    private readonly feedOf: (eventId: string) => RoomFeed | undefined,
  ) {}

  /** Whether a room shows only its speakers' presence now. */
  isBig(eventId: string): boolean {
    return this.big.has(eventId);
  }

  /** A diff the room's feed has just applied. */
  presence(eventId: string, joins: PresenceMap, leaves: PresenceMap): void {
    const feed = this.feedOf(eventId);
    const p = this.room(eventId);
    const onlySpeakers = this.big.has(eventId);
    for (const [u, v] of Object.entries(joins)) if (!onlySpeakers || feed?.speakers.has(u)) merge(p.joins, u, v.metas);
    for (const [u, v] of Object.entries(leaves)) if (!onlySpeakers || feed?.speakers.has(u)) merge(p.leaves, u, v.metas);
  }

  /** A user became a recent speaker (their presence is shown in a large room) or stopped being one. */
  speaker(eventId: string, userId: string, added: boolean): void {
    if (!this.big.has(eventId)) return;
    const feed = this.feedOf(eventId);
    if (!feed) return;
    const p = this.room(eventId);
    for (const [u, v] of Object.entries(feed.metasOf(userId))) merge(added ? p.joins : p.leaves, u, v.metas);
  }

  /** Messages for the room's batch members. */
  messages(eventId: string, views: ChatMessageView[]): void {
    if (views.length === 0) return;
    this.room(eventId).messages.push(...views);
  }

  /** Sends a room's tick now (before an event that must not overtake it). */
  flushRoom(eventId: string): void {
    const feed = this.feedOf(eventId);
    // The view first: a switch replaces the tick's diffs with a fresh state.
    if (feed) this.checkSize(eventId, feed);
    const p = this.pending.get(eventId);
    this.pending.delete(eventId);
    if (p && p.messages.length > 0) {
      const batch = chatUwsTopic.roomBatch(eventId);
      flushSends(); // what sendTo queued goes out first (conn.ts)
      this.app.publish(batch, encodeMessagesFrame(null, eventId, p.messages), false);
      metrics.chatDeliveries.inc(p.messages.length * this.app.numSubscribers(batch));
    }
    if (!feed) return;
    if (p && (Object.keys(p.joins).length > 0 || Object.keys(p.leaves).length > 0)) this.both(eventId, encodePresenceDiff(eventId, p.joins, p.leaves));
    if (this.big.has(eventId) && this.lastCount.get(eventId) !== feed.online) {
      this.lastCount.set(eventId, feed.online);
      this.both(eventId, encodePresenceCount(eventId, feed.online));
    }
  }

  /** Settles the list-or-speakers view against the room's current count (before a joiner's state). */
  settle(eventId: string): void {
    const feed = this.feedOf(eventId);
    if (feed) this.checkSize(eventId, feed);
  }

  /** A room's feed is gone from this node. */
  forget(eventId: string): void {
    this.pending.delete(eventId);
    this.big.delete(eventId);
    this.lastCount.delete(eventId);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Switches a room between the full list and the speakers' view (10 % hysteresis), telling members. */
  private checkSize(eventId: string, feed: RoomFeed): void {
    const wasBig = this.big.has(eventId);
    const nowBig = wasBig ? feed.online > this.listMax * 0.9 : feed.online > this.listMax;
    if (nowBig === wasBig) return;
    if (nowBig) this.big.add(eventId);
    else {
      this.big.delete(eventId);
      this.lastCount.delete(eventId);
    }
    // Pending diffs were filtered for the old view; the fresh state replaces them.
    const p = this.pending.get(eventId);
    if (p) {
      p.joins = {};
      p.leaves = {};
    }
    this.both(eventId, encodePhx(null, null, chatTopic(eventId), PHX.presenceState, feed.presenceView(nowBig)));
  }

  private both(eventId: string, frame: string): void {
    flushSends(); // what sendTo queued goes out first (conn.ts)
    this.app.publish(chatUwsTopic.room(eventId), frame, false);
    this.app.publish(chatUwsTopic.roomBatch(eventId), frame, false);
  }

  private room(eventId: string): Pending {
    let p = this.pending.get(eventId);
    if (!p) {
      this.pending.set(eventId, (p = { joins: {}, leaves: {}, messages: [] }));
      this.timer ??= setTimeout(() => this.flushAll(), this.tickMs);
    }
    return p;
  }

  private flushAll(): void {
    this.timer = undefined;
    for (const eventId of [...this.pending.keys()]) this.flushRoom(eventId);
  }
}

function merge(into: PresenceMap, userId: string, metas: PresenceMap[string]["metas"]): void {
  const e = (into[userId] ??= { metas: [] });
  for (const m of metas) if (!e.metas.some((x) => x.phx_ref === m.phx_ref)) e.metas.push(m);
}
