import type { ChatBus, PresenceEntry } from "@seatdrop/chat";
import type { Logger } from "@seatdrop/observability";
import { messagesOf, type ChatBusMessage, type PresenceMap, type RoomStatus } from "@seatdrop/protocol";
import type { Keys, Redis } from "@seatdrop/redis";
import { ChannelSubscriptions } from "../fanout/channel-subscriptions.ts";

/** How many recent sequenced events each room keeps in memory, for a join's catch-up without Redis. */
const RING_SIZE = 256;
/** How often each subscribed room re-reads its status from PostgreSQL (see RoomFeed.refreshStatus). */
const STATUS_REFRESH_MS = 30_000;

export type RoomDeliver = (eventId: string, msg: ChatBusMessage) => void;
export type RoomResync = (eventId: string) => void;

/**
 * One room's stream on this node, in `seq` order with no gaps and no repeats.
 *
 * Pub/sub is at-most-once, so every sequenced message is checked against the last one delivered: a
 * repeat is dropped, a gap is filled from the room's log first. When the log no longer reaches
 * back, or the epoch changed (Redis lost the room), local members resync (they rejoin and reload
 * history and presence from the sources of truth). Typing notices (`s` = 0) pass straight through.
 */
export class RoomFeed {
  lastSeq = 0;
  /** Bumped with every message or status event (not presence): a cached history page is current while it is unchanged. */
  messageVersion = 0;
  epoch: string | null = null;
  refs = 0;
  /** The room's status as last announced; the node refuses typing in an inactive room without asking PostgreSQL. */
  status: RoomStatus = "inactive";
  readonly ready: Promise<void>;
  /**
   * The room's presence as of `lastSeq` (issue 11): phx_ref → entry, from an atomic snapshot and
   * then every diff in order. A join's `presence_state` is read from here, not from Redis.
   */
  readonly presence = new Map<string, PresenceEntry>();
  /** The same entries by user (distinct users online = its size), kept with `presence`. */
  private readonly users = new Map<string, Map<string, PresenceEntry>>();
  /**
   * The room's recent speakers, oldest first (at most `speakersMax`): in a room too large to list
   * everyone, members see the presence of the people whose messages they read.
   */
  readonly speakers = new Map<string, true>();
  speakersMax = 500;
  /** Called when a user becomes (or stops being) one of the recent speakers. */
  onSpeaker: (userId: string, added: boolean) => void = () => {};
  private waiters: { seq: number; resolve: () => void }[] = [];
  private ring: (ChatBusMessage | undefined)[] = new Array(RING_SIZE);
  /** Messages to deliver, and `fillTo` marks: read the log up to there (nothing pub/sub revealed). */
  private queue: (ChatBusMessage | { fillTo: number })[] = [];
  private pumping = false;
  private initialised = false;

  constructor(
    readonly eventId: string,
    private readonly bus: ChatBus,
    private readonly loadStatus: () => Promise<RoomStatus | null>,
    private readonly deliver: RoomDeliver,
    private readonly resync: RoomResync,
    private readonly log: Logger,
    subscribed: Promise<unknown>,
  ) {
    this.ready = subscribed.then(() => this.initialise());
  }

  /** Runs once SUBSCRIBE is acknowledged: anything published after the reads below reaches `push`. */
  private async initialise(): Promise<void> {
    const [, status] = await Promise.all([this.reload(), this.loadStatus()]);
    if (status) this.status = status;
    this.initialised = true;
    void this.pump();
  }

  /** Position and presence from Redis, atomically (start, and after the order broke). */
  private async reload(): Promise<void> {
    this.messageVersion++;
    const snap = await this.bus.presenceSnapshot(this.eventId);
    this.lastSeq = snap.seq;
    this.epoch = snap.epoch;
    this.presence.clear();
    this.users.clear();
    for (const e of snap.entries) this.addEntry(e);
    this.wake();
  }

  /** Distinct users online. */
  get online(): number {
    return this.users.size;
  }

  /** Resolves once the feed has applied `seq` (or after `timeoutMs`, false). */
  waitFor(seq: number, timeoutMs = 5000): Promise<boolean> {
    if (seq <= this.lastSeq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = {
        seq,
        resolve: () => {
          clearTimeout(t);
          resolve(true);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** The presence to show: everyone, or (a large room) only the recent speakers. */
  presenceView(onlySpeakers: boolean): PresenceMap {
    const out: PresenceMap = {};
    for (const userId of onlySpeakers ? this.speakers.keys() : this.users.keys()) Object.assign(out, this.metasOf(userId));
    return out;
  }

  /** One user's metas now (a new speaker's presence); empty when they are offline. */
  metasOf(userId: string): PresenceMap {
    const entries = this.users.get(userId);
    if (!entries) return {};
    const metas = [];
    for (const { user_id: _u, ...meta } of entries.values()) metas.push(meta);
    return { [userId]: { metas } };
  }

  private addEntry(e: PresenceEntry): void {
    if (this.presence.has(e.phx_ref)) return;
    this.presence.set(e.phx_ref, e);
    let mine = this.users.get(e.user_id);
    if (!mine) this.users.set(e.user_id, (mine = new Map()));
    mine.set(e.phx_ref, e);
  }

  private removeEntry(phxRef: string): void {
    const e = this.presence.get(phxRef);
    if (!e) return;
    this.presence.delete(phxRef);
    const mine = this.users.get(e.user_id);
    mine?.delete(phxRef);
    if (mine?.size === 0) this.users.delete(e.user_id);
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const due = this.waiters.filter((w) => w.seq <= this.lastSeq);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.seq > this.lastSeq);
    for (const w of due) w.resolve();
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

  push(msg: ChatBusMessage): void {
    if (msg.s === 0) {
      if (this.initialised) this.deliver(this.eventId, msg);
      return;
    }
    this.queue.push(msg);
    if (this.initialised) void this.pump();
  }

  /** Asks the room's log for anything pub/sub did not deliver up to `seq` (after a reconnect). */
  catchUpTo(seq: number, epoch: string | null): void {
    if (seq > this.lastSeq && epoch === this.epoch) this.queue.push({ fillTo: seq });
    if (this.initialised) void this.pump();
  }

  /** Sequenced events after `seq` from memory, or null when the ring no longer has them all. */
  eventsSince(seq: number): ChatBusMessage[] | null {
    if (seq >= this.lastSeq) return [];
    if (this.lastSeq - seq > RING_SIZE) return null;
    const out: ChatBusMessage[] = [];
    for (let s = seq + 1; s <= this.lastSeq; s++) {
      const m = this.ring[s % RING_SIZE];
      if (!m || m.s !== s) return null;
      out.push(m);
    }
    return out;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        const item = this.queue.shift()!;
        if ("fillTo" in item) {
          await this.fill(item.fillTo);
          continue;
        }
        const msg = item;
        if (msg.ep && this.epoch && msg.ep !== this.epoch) {
          this.log.warn({ eventId: this.eventId, from: this.epoch, to: msg.ep }, "room epoch changed; members resync");
          this.ring = new Array(RING_SIZE);
          await this.reload();
          this.resync(this.eventId);
          continue;
        }
        if (msg.ep && !this.epoch) this.epoch = msg.ep;
        if (msg.s <= this.lastSeq) continue;
        await this.fill(msg.s - 1);
        this.apply(msg);
      }
    } catch (err) {
      // Redis failed mid-repair: members resync rather than miss messages silently.
      this.log.error({ err, eventId: this.eventId }, "room feed failed; members resync");
      this.queue = [];
      this.ring = new Array(RING_SIZE);
      try {
        await this.reload();
      } catch (e) {
        this.log.error({ err: e, eventId: this.eventId }, "room feed could not read its position");
      }
      this.resync(this.eventId);
    } finally {
      this.pumping = false;
    }
  }

  /** Delivers what the log has after lastSeq up to `to`; members resync when it no longer has it all. */
  private async fill(to: number): Promise<void> {
    if (to <= this.lastSeq) return;
    const missing = await this.bus.readLog(this.eventId, this.lastSeq + 1, to);
    if (missing === null) {
      this.log.warn({ eventId: this.eventId, from: this.lastSeq + 1, to }, "room log no longer has the gap; members resync");
      this.ring = new Array(RING_SIZE);
      await this.reload();
      if (this.lastSeq < to) this.lastSeq = to;
      this.resync(this.eventId);
      return;
    }
    this.log.warn({ eventId: this.eventId, from: this.lastSeq + 1, to }, "filled a room sequence gap from the log");
    for (const m of missing) this.apply(m);
  }

  private apply(m: ChatBusMessage): void {
    if (m.s <= this.lastSeq) return;
    this.ring[m.s % RING_SIZE] = m;
    this.lastSeq = m.s;
    const ev = m.ev;
    if (ev.k === "status") this.status = ev.status;
    else if (ev.k === "presence") {
      for (const [user_id, { metas }] of Object.entries(ev.joins)) for (const meta of metas) this.addEntry({ ...meta, user_id });
      for (const { metas } of Object.values(ev.leaves)) for (const meta of metas) this.removeEntry(meta.phx_ref);
    } else {
      this.messageVersion++;
      for (const v of messagesOf(ev)) if (v.user_id) this.spoke(v.user_id);
    }
    this.deliver(this.eventId, m);
    this.wake();
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
 * The node's room feeds: one Redis channel per room with local members (see ChannelSubscriptions).
 * The seat feeds share the subscriber connection; each listener ignores channels it does not own.
 */
export class RoomFeeds {
  private readonly subs: ChannelSubscriptions<RoomFeed>;
  private readonly statusTimer: NodeJS.Timeout;
  private readonly log: Logger;

  constructor(
    sub: Redis,
    keys: Keys,
    private readonly bus: ChatBus,
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
    this.subs = new ChannelSubscriptions<RoomFeed>(
      sub,
      (eventId) => keys.chat(eventId).channel,
      (eventId, subscribed) => {
        const feed = new RoomFeed(eventId, bus, () => loadStatus(eventId), deliver, resync, this.log, subscribed);
        onFeed(feed);
        return feed;
      },
      this.log,
    );
  }

  /** Hands a pub/sub message to its room; false when the channel is not a room of this node. */
  onMessage(channel: string, text: string): boolean {
    const feed = this.subs.forChannel(channel);
    if (!feed) return false;
    let msg: ChatBusMessage;
    try {
      msg = JSON.parse(text) as ChatBusMessage;
    } catch (err) {
      this.log.error({ err, channel }, "undecodable chat message");
      return true;
    }
    feed.push(msg);
    return true;
  }

  /** After the subscriber reconnected: each room asks its log for what was published meanwhile. */
  catchUpAll(): void {
    for (const f of this.subs.values())
      void this.bus.currentSeq(f.eventId).then(
        (pos) => f.catchUpTo(pos.seq, pos.epoch),
        (err: unknown) => this.log.warn({ err, eventId: f.eventId }, "room catch-up failed"),
      );
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
