import type { ChatBus } from "@seatdrop/chat";
import type { Logger } from "@seatdrop/observability";
import type { ChatBusMessage, RoomStatus } from "@seatdrop/protocol";
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
  epoch: string | null = null;
  refs = 0;
  /** The room's status as last announced; the node refuses typing in an inactive room without asking PostgreSQL. */
  status: RoomStatus = "inactive";
  readonly ready: Promise<void>;
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
    const [pos, status] = await Promise.all([this.bus.currentSeq(this.eventId), this.loadStatus()]);
    this.lastSeq = pos.seq;
    this.epoch = pos.epoch;
    if (status) this.status = status;
    this.initialised = true;
    void this.pump();
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
          this.epoch = msg.ep;
          this.lastSeq = msg.s - 1;
          this.ring = new Array(RING_SIZE);
          this.resync(this.eventId);
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
        const pos = await this.bus.currentSeq(this.eventId);
        this.lastSeq = pos.seq;
        this.epoch = pos.epoch;
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
      this.lastSeq = to;
      this.ring = new Array(RING_SIZE);
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
    if (m.ev.k === "status") this.status = m.ev.status;
    this.deliver(this.eventId, m);
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
  ) {
    this.log = logger.child({ module: "room-feeds" });
    this.statusTimer = setInterval(() => {
      for (const f of this.subs.values()) f.refreshStatus().catch((err: unknown) => this.log.warn({ err, eventId: f.eventId }, "room status refresh failed"));
    }, STATUS_REFRESH_MS);
    this.statusTimer.unref();
    this.subs = new ChannelSubscriptions<RoomFeed>(
      sub,
      (eventId) => keys.chat(eventId).channel,
      (eventId, subscribed) => new RoomFeed(eventId, bus, () => loadStatus(eventId), deliver, resync, this.log, subscribed),
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
  }

  stop(): void {
    clearInterval(this.statusTimer);
  }
}
