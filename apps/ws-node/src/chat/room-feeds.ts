import type { ChatBus } from "@seatdrop/chat";
import type { Logger } from "@seatdrop/observability";
import { chatBusMessageSchema, messagesOf, type ChatBusMessage, type PresenceMap, type RoomStatus } from "@seatdrop/protocol";
import type { Keys } from "@seatdrop/redis";
import { ChannelSubscriptions } from "../fanout/channel-subscriptions.ts";
import { PresenceSet, SequencedFeed, type StreamPosition } from "@seatdrop/streams";
import type { Subscriber } from "../fanout/subscriber.ts";

/** How many recent sequenced events each room keeps in memory, for a join's catch-up without Redis. */
const RING_SIZE = 1024;
/** How often each subscribed room re-reads its status from PostgreSQL (see RoomFeed.refreshStatus). */
const STATUS_REFRESH_MS = 30_000;

export type RoomDeliver = (eventId: string, msg: ChatBusMessage) => void;
export type RoomResync = (eventId: string) => void;

/**
 * One room's stream on this node, in `seq` order with no gaps and no repeats (see SequencedFeed).
 * When the log no longer reaches back, or the epoch changed (Redis lost the room), local members
 * resync (they rejoin and reload history and presence from the sources of truth). Typing notices
 * (`s` = 0) pass straight through. Besides delivering, the feed keeps the room's status, presence
 * and recent speakers as of `lastSeq`.
 */
export class RoomFeed extends SequencedFeed<ChatBusMessage> {
  /** Bumped with every message or status event (not presence): a cached history page is current while it is unchanged. */
  messageVersion = 0;
  /** The room's status as last announced; the node refuses typing in an inactive room without asking PostgreSQL. */
  status: RoomStatus = "inactive";
  /** The room's presence as of `lastSeq`: a join's `presence_state` is read from here, not from Redis. */
  readonly presence = new PresenceSet();
  /**
   * The room's recent speakers, oldest first (at most `speakersMax`): in a room too large to list
   * everyone, members see the presence of the people whose messages they read.
   */
  readonly speakers = new Map<string, true>();
  speakersMax = 500;
  /** Called when a user becomes (or stops being) one of the recent speakers. */
  onSpeaker: (userId: string, added: boolean) => void = () => {};

  constructor(
    readonly eventId: string,
    private readonly bus: ChatBus,
    private readonly loadStatus: () => Promise<RoomStatus | null>,
    private readonly onEvent: RoomDeliver,
    private readonly onResync: RoomResync,
    log: Logger,
    subscribed: Promise<unknown>,
  ) {
    super(eventId, RING_SIZE, log, subscribed);
  }

  protected override async prepare(): Promise<void> {
    const status = await this.loadStatus();
    if (status) this.status = status;
  }

  /** Position and presence from Redis, atomically (start, and whenever the feed starts over). */
  protected async load(): Promise<StreamPosition> {
    const snap = await this.bus.presenceSnapshot(this.eventId);
    this.messageVersion++;
    this.presence.load(snap.entries);
    return { seq: snap.seq, epoch: snap.epoch };
  }

  protected position(): Promise<StreamPosition> {
    return this.bus.currentSeq(this.eventId);
  }

  protected readLog(from: number, to: number): Promise<ChatBusMessage[] | null> {
    return this.bus.readLog(this.eventId, from, to);
  }

  protected seqOf(m: ChatBusMessage): number {
    return m.s;
  }

  protected resync(): void {
    this.onResync(this.eventId);
  }

  push(msg: ChatBusMessage): void {
    if (msg.s === 0) {
      if (this.started) this.onEvent(this.eventId, msg);
      return;
    }
    this.offer({ items: [msg], origin: msg.o, epoch: msg.ep });
  }

  /** Resolves once the feed has applied `seq` (or after `timeoutMs`, false). */
  waitFor(seq: number, timeoutMs = 5000): Promise<boolean> {
    return this.reached(seq, timeoutMs);
  }

  /** Distinct users online. */
  get online(): number {
    return this.presence.users;
  }

  /** The presence to show: everyone, or (a large room) only the recent speakers. */
  presenceView(onlySpeakers: boolean): PresenceMap {
    return this.presence.view(onlySpeakers ? this.speakers.keys() : undefined);
  }

  /** One user's metas now (a new speaker's presence); empty when they are offline. */
  metasOf(userId: string): PresenceMap {
    return this.presence.metasOf(userId);
  }

  /**
   * Re-reads the room's status from PostgreSQL, the record: repairs a view left stale when a status
   * announcement was lost (it is published after the change commits, and a publish can fail).
   */
  async refreshStatus(): Promise<void> {
    const status = await this.loadStatus();
    if (status && status !== this.status) {
      this.log.warn({ eventId: this.eventId, from: this.status, to: status }, "room status was stale; corrected from PostgreSQL");
      this.status = status;
    }
  }

  /** Applies each message to the room's state, then hands it to the members (log items carry their own origin). */
  protected deliver(messages: ChatBusMessage[]): void {
    for (const m of messages) this.apply(m);
  }

  private apply(m: ChatBusMessage): void {
    const ev = m.ev;
    if (ev.k === "status") this.status = ev.status;
    else if (ev.k === "presence") this.presence.apply(ev.joins, ev.leaves);
    else {
      this.messageVersion++;
      for (const v of messagesOf(ev)) if (v.user_id) this.spoke(v.user_id);
    }
    this.onEvent(this.eventId, m);
  }

  private spoke(userId: string): void {
    const known = this.speakers.delete(userId);
    this.speakers.set(userId, true);
    if (known) return;
    this.onSpeaker(userId, true);
    if (this.speakers.size > this.speakersMax) {
      const oldest = this.speakers.keys().next().value as string;
      this.speakers.delete(oldest);
      this.onSpeaker(oldest, false);
    }
  }
}

/**
 * The node's room feeds: one Redis channel per room with local members (see ChannelSubscriptions),
 * on the node's one subscriber connection.
 */
export class RoomFeeds {
  private readonly subs: ChannelSubscriptions<RoomFeed, typeof chatBusMessageSchema>;
  private readonly statusTimer: NodeJS.Timeout;
  private readonly log: Logger;

  constructor(
    subscriber: Subscriber,
    keys: Keys,
    bus: ChatBus,
    loadStatus: (eventId: string) => Promise<RoomStatus | null>,
    deliver: RoomDeliver,
    resync: RoomResync,
    logger: Logger,
    onFeed: (feed: RoomFeed) => void = () => {},
    private readonly onDrop: (eventId: string) => void = () => {},
  ) {
    this.log = logger.child({ module: "room-feeds" });
    this.statusTimer = setInterval(() => {
      for (const f of this.subs.values()) f.refreshStatus().catch((err: unknown) => this.log.warn({ err, eventId: f.eventId }, "room status refresh failed"));
    }, STATUS_REFRESH_MS);
    this.statusTimer.unref();
    this.subs = new ChannelSubscriptions<RoomFeed, typeof chatBusMessageSchema>({
      subscriber,
      channelOf: (eventId) => keys.chat(eventId).channel,
      create: (eventId, subscribed) => {
        const feed = new RoomFeed(eventId, bus, () => loadStatus(eventId), deliver, resync, this.log, subscribed);
        onFeed(feed);
        return feed;
      },
      schema: chatBusMessageSchema,
      what: "chat message",
      onMessage: (feed, msg) => feed.push(msg),
      onReconnect: (feed) => feed.catchUp(),
      audit: (feed) => feed.audit(),
      log: this.log,
    });
  }

  acquire(eventId: string): Promise<RoomFeed> {
    return this.subs.acquire(eventId);
  }

  get(eventId: string): RoomFeed | undefined {
    return this.subs.get(eventId);
  }

  release(eventId: string): void {
    this.subs.release(eventId);
    if (!this.subs.get(eventId)) this.onDrop(eventId);
  }

  stop(): void {
    clearInterval(this.statusTimer);
  }
}
