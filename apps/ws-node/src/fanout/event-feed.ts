import type { Redis } from "ioredis";
import type { Keys } from "@seatdrop/redis";
import { metrics, type Logger } from "@seatdrop/observability";
import type { SeatEvent, SeatMessage } from "@seatdrop/protocol";
import type { SeatService } from "@seatdrop/seats";
import { ChannelSubscriptions } from "./channel-subscriptions.ts";

/** How many recent events each feed keeps in memory for joins and catch-ups without a Redis read. */
const RING_SIZE = 2048;
/** A waiter that sees no progress this long asks the log for what pub/sub did not deliver. */
const STALL_MS = 200;

export type FeedListener = (eventId: string, events: SeatEvent[], origin: string | undefined) => void;
export type ResyncListener = (eventId: string) => void;

/**
 * One event's stream of seat events on this node, in `seq` order with no gaps.
 *
 * Redis pub/sub is at-most-once (a reconnecting subscriber misses messages), so the feed checks
 * every message's `seq` against the last one it delivered and fills any gap from the event's log
 * before delivering more. It keeps the recent events in a ring, which lets a join compute the
 * events between its snapshot and "now" synchronously, at the instant its socket subscribes.
 */
export class EventFeed {
  lastSeq = 0;
  epoch: string | null = null;
  refs = 0;
  /** The event's seat ids, read once per subscription (full snapshots of joins without `changes`). */
  seatIds?: string[];
  /** Seat → section, read from PostgreSQL once per subscription when a join names sections. */
  sectionOf?: Promise<Map<string, string>>;
  ready: Promise<void>;
  private ring: (SeatEvent | undefined)[] = new Array(RING_SIZE);
  private queue: SeatMessage[] = [];
  private pumping = false;
  private initialised = false;
  private waiters: { seq: number; resolve: () => void }[] = [];

  constructor(
    readonly eventId: string,
    private readonly seats: SeatService,
    private readonly deliver: FeedListener,
    private readonly resync: ResyncListener,
    private readonly log: Logger,
    subscribed: Promise<unknown>,
  ) {
    this.ready = subscribed.then(() => this.initialise());
  }

  /** Called only after SUBSCRIBE is acknowledged: anything published later reaches `push`. */
  private async initialise(): Promise<void> {
    const [seq, epoch] = await Promise.all([this.seats.currentSeq(this.eventId), this.seats.epoch(this.eventId)]);
    this.lastSeq = seq;
    this.epoch = epoch;
    this.initialised = true;
    void this.pump();
  }

  push(msg: SeatMessage): void {
    this.queue.push(msg);
    if (this.initialised) void this.pump();
  }

  /** Events after `seq` up to lastSeq from the ring, or null when the ring no longer has them all. */
  eventsSince(seq: number): SeatEvent[] | null {
    if (seq >= this.lastSeq) return [];
    if (this.lastSeq - seq > RING_SIZE) return null;
    const out: SeatEvent[] = [];
    for (let s = seq + 1; s <= this.lastSeq; s++) {
      const ev = this.ring[s % RING_SIZE];
      if (!ev || ev.seq !== s) return null;
      out.push(ev);
    }
    return out;
  }

  /** Resolves once every event up to `seq` has been delivered on this node. */
  reached(seq: number): Promise<void> {
    if (seq <= this.lastSeq) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const w = { seq, resolve };
      this.waiters.push(w);
      const check = () => {
        if (!this.waiters.includes(w)) return;
        // Pub/sub lost or delayed a message and nothing later revealed the gap: read the log.
        this.queue.push({ ev: [] as SeatEvent[], o: undefined, ep: this.epoch ?? undefined, fillTo: seq } as SeatMessage & { fillTo: number });
        void this.pump();
        setTimeout(check, STALL_MS);
      };
      setTimeout(check, STALL_MS);
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        const msg = this.queue.shift() as SeatMessage & { fillTo?: number };
        if (msg.ep && this.epoch && msg.ep !== this.epoch) {
          this.onEpochChange(msg);
          continue;
        }
        if (msg.ep && !this.epoch) this.epoch = msg.ep;
        const target = msg.fillTo ?? (msg.ev[0] ? msg.ev[0].seq - 1 : this.lastSeq);
        if (target > this.lastSeq) await this.fill(target);
        const fresh = msg.ev.filter((e) => e.seq > this.lastSeq);
        if (fresh.length > 0) this.apply(fresh, msg.o);
      }
    } catch (err) {
      // Redis is failing (a failover, a restart). Never let this reject: an unhandled rejection
      // would take the whole node and every socket on it down. Resync once Redis answers again.
      this.log.error({ err, eventId: this.eventId }, "event feed failed; resyncing subscribers when Redis is back");
      this.queue = [];
      this.scheduleReset();
    } finally {
      this.pumping = false;
    }
  }

  private resetTimer: NodeJS.Timeout | undefined;
  /** Retries resetToCurrent until Redis answers; watchers resync then. */
  private scheduleReset(delayMs = 0): void {
    if (this.resetTimer) return;
    this.resetTimer = setTimeout(() => {
      this.resetTimer = undefined;
      this.resetToCurrent().then(
        () => void this.pump(),
        (err: unknown) => {
          this.log.warn({ err, eventId: this.eventId }, "event feed reset failed; retrying");
          this.scheduleReset(Math.min(5000, Math.max(200, delayMs * 2)));
        },
      );
    }, delayMs);
    this.resetTimer.unref();
  }

  /** Reads the events pub/sub did not deliver; if the log no longer has them, subscribers resync. */
  private async fill(toSeq: number): Promise<void> {
    const missing = await this.seats.readLog(this.eventId, this.lastSeq + 1, toSeq);
    if (missing === null) {
      await this.resetToCurrent();
      return;
    }
    if (missing.length > 0) {
      metrics.fanoutGaps.inc();
      this.log.warn({ eventId: this.eventId, from: this.lastSeq + 1, to: toSeq }, "filled a sequence gap from the event log");
      this.apply(missing, undefined);
    }
  }

  private apply(events: SeatEvent[], origin: string | undefined): void {
    for (const ev of events) this.ring[ev.seq % RING_SIZE] = ev;
    this.lastSeq = events[events.length - 1]!.seq;
    metrics.fanoutEvents.inc(events.length);
    this.deliver(this.eventId, events, origin);
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const done = this.waiters.filter((w) => w.seq <= this.lastSeq);
    this.waiters = this.waiters.filter((w) => w.seq > this.lastSeq);
    for (const w of done) w.resolve();
  }

  /**
   * A join's snapshot came from a newer epoch than this feed has seen (Redis lost the event and no
   * new-epoch message arrived yet): start over from the snapshot's position; current watchers resync.
   */
  adoptEpoch(epoch: string, seq: number): void {
    if (!epoch || this.epoch === epoch) return;
    this.log.warn({ eventId: this.eventId, from: this.epoch, to: epoch }, "event epoch changed (seen by a snapshot); resyncing subscribers");
    this.epoch = epoch;
    this.ring = new Array(RING_SIZE);
    this.lastSeq = seq;
    this.resync(this.eventId);
    this.wakeAll();
  }

  /** Redis lost the event (flush, failover without persistence): sequence numbers restarted. */
  private onEpochChange(msg: SeatMessage): void {
    this.log.warn({ eventId: this.eventId, from: this.epoch, to: msg.ep }, "event epoch changed; resyncing subscribers");
    this.epoch = msg.ep ?? null;
    this.ring = new Array(RING_SIZE);
    this.lastSeq = msg.ev[0] ? msg.ev[0].seq - 1 : 0;
    this.resync(this.eventId);
    this.queue.unshift({ ev: msg.ev, o: msg.o, ep: msg.ep });
    this.wakeAll();
  }

  private async resetToCurrent(): Promise<void> {
    this.ring = new Array(RING_SIZE);
    this.lastSeq = await this.seats.currentSeq(this.eventId);
    this.epoch = await this.seats.epoch(this.eventId);
    this.resync(this.eventId);
    this.wakeAll();
  }

  /** Waiters of a reset feed resolve; they recheck the ring and fall back to a fresh snapshot. */
  private wakeAll(): void {
    const all = this.waiters;
    this.waiters = [];
    for (const w of all) w.resolve();
  }
}

/** The node's seat feeds: one Redis channel per event with local watchers (see ChannelSubscriptions). */
export class EventFeeds {
  private readonly subs: ChannelSubscriptions<EventFeed>;
  private readonly log: Logger;

  constructor(
    sub: Redis,
    keys: Keys,
    private readonly seats: SeatService,
    deliver: FeedListener,
    resync: ResyncListener,
    logger: Logger,
  ) {
    this.log = logger.child({ module: "event-feeds" });
    this.subs = new ChannelSubscriptions<EventFeed>(
      sub,
      (eventId) => keys.event(eventId).channel,
      (eventId, subscribed) => new EventFeed(eventId, seats, deliver, resync, this.log, subscribed),
      this.log,
      (n) => metrics.subscribedEvents.set(n),
    );
    sub.on("message", (channel: string, text: string) => {
      const feed = this.subs.forChannel(channel);
      if (!feed) return;
      let msg: SeatMessage;
      try {
        msg = JSON.parse(text) as SeatMessage;
      } catch (err) {
        this.log.error({ err, channel }, "undecodable seat message");
        return;
      }
      feed.push(msg);
    });
    // After a reconnect ioredis resubscribes by itself; what was published meanwhile is only in
    // the logs, so every feed checks for a gap at once instead of waiting for the next event.
    // ioredis says "ready" before it resubscribes: a PING queued now is answered after the SUBSCRIBE
    // acknowledgements, so each feed's catch-up position includes everything published before it.
    sub.on("ready", () => {
      const catchUp = () => {
        for (const f of this.subs.values())
          this.seats.currentSeq(f.eventId).then(
            (seq) => f.push({ ev: [], fillTo: seq } as SeatMessage),
            (err: unknown) => this.log.warn({ err, eventId: f.eventId }, "catch-up after reconnect failed; the next event or join fills the gap"),
          );
      };
      sub.ping().then(catchUp, catchUp);
    });
  }

  /** Subscribes (once) and resolves when the feed knows its starting sequence number. */
  acquire(eventId: string): Promise<EventFeed> {
    return this.subs.acquire(eventId);
  }

  get(eventId: string): EventFeed | undefined {
    return this.subs.get(eventId);
  }

  release(eventId: string): void {
    this.subs.release(eventId);
  }

  eventIds(): string[] {
    return this.subs.keys();
  }
}
