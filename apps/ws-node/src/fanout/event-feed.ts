import type { Keys } from "@seatdrop/redis";
import { metrics, type Logger } from "@seatdrop/observability";
import { seatMessageSchema, type SeatEvent, type SeatMessage } from "@seatdrop/protocol";
import type { SeatService } from "@seatdrop/seats";
import { ChannelSubscriptions } from "./channel-subscriptions.ts";
import { SequencedFeed, type StreamPosition } from "@seatdrop/streams";
import type { Subscriber } from "./subscriber.ts";

/** How many recent events each feed keeps in memory for joins and catch-ups without a Redis read. */
const RING_SIZE = 2048;

export type FeedListener = (eventId: string, events: SeatEvent[], origin: string | undefined) => void;
export type ResyncListener = (eventId: string) => void;

/**
 * One event's stream of seat events on this node, in `seq` order with no gaps (see SequencedFeed).
 * The ring lets a join compute the events between its snapshot and "now" synchronously, at the
 * instant its socket subscribes.
 */
export class EventFeed extends SequencedFeed<SeatEvent> {
  /** The event's seat ids, read once per subscription (full snapshots of joins without `changes`). */
  seatIds?: string[];
  /**
   * The `seats` object of a whole-map (legacy) snapshot reply, encoded once per (epoch, seq) and
   * shared by every join answered at that position (docs/reliability.md, round two, finding 3:
   * otherwise a 100,000-seat map is built and encoded anew for each join).
   */
  wholeMap?: { epoch: string; seq: number; json: string };
  /** Seat → section, read from PostgreSQL once per subscription when a join names sections. */
  sectionOf?: Promise<Map<string, string>>;

  constructor(
    readonly eventId: string,
    private readonly seats: SeatService,
    private readonly onEvents: FeedListener,
    private readonly onResync: ResyncListener,
    log: Logger,
    subscribed: Promise<unknown>,
  ) {
    super(eventId, RING_SIZE, log, subscribed);
  }

  push(msg: SeatMessage): void {
    this.offer({ items: msg.ev, origin: msg.o, epoch: msg.ep });
  }

  /**
   * A join's snapshot came from a newer epoch than this feed has seen (Redis lost the event and no
   * new-epoch message arrived yet): start over from the snapshot's position; current watchers resync.
   */
  adoptEpoch(epoch: string, seq: number): void {
    if (!epoch || this.epoch === epoch) return;
    this.log.warn({ eventId: this.eventId, from: this.epoch, to: epoch }, "event epoch changed (seen by a snapshot); resyncing subscribers");
    this.restartAt({ seq, epoch });
  }

  protected load(): Promise<StreamPosition> {
    return this.position();
  }

  protected async position(): Promise<StreamPosition> {
    const [seq, epoch] = await Promise.all([this.seats.currentSeq(this.eventId), this.seats.events.epoch(this.eventId)]);
    return { seq, epoch };
  }

  protected readLog(from: number, to: number): Promise<SeatEvent[] | null> {
    return this.seats.readLog(this.eventId, from, to);
  }

  protected deliver(events: SeatEvent[], origin: string | undefined): void {
    metrics.fanoutEvents.inc(events.length);
    this.onEvents(this.eventId, events, origin);
  }

  protected resync(): void {
    this.onResync(this.eventId);
  }

  protected seqOf(ev: SeatEvent): number {
    return ev.seq;
  }

  protected override onGapFilled(): void {
    metrics.fanoutGaps.inc();
  }
}

/** The node's seat feeds: one Redis channel per event with local watchers (see ChannelSubscriptions). */
export class EventFeeds {
  private readonly subs: ChannelSubscriptions<EventFeed, typeof seatMessageSchema>;
  private readonly log: Logger;

  constructor(
    subscriber: Subscriber,
    keys: Keys,
    seats: SeatService,
    deliver: FeedListener,
    resync: ResyncListener,
    logger: Logger,
  ) {
    this.log = logger.child({ module: "event-feeds" });
    this.subs = new ChannelSubscriptions<EventFeed, typeof seatMessageSchema>({
      subscriber,
      channelOf: (eventId) => keys.event(eventId).channel,
      create: (eventId, subscribed) => new EventFeed(eventId, seats, deliver, resync, this.log, subscribed),
      schema: seatMessageSchema,
      what: "seat message",
      onMessage: (feed, msg) => {
        feed.push(msg);
        // Publish to local delivery; Redis's clock against this host's, so skew between machines adds to it.
        if (typeof msg.at === "number" && msg.ev.length > 0) metrics.fanoutLag.observe(Math.max(0, Date.now() - msg.at) / 1000);
      },
      onReconnect: (feed) => feed.catchUp(),
      audit: (feed) => feed.audit(),
      log: this.log,
      onSizeChange: (n) => metrics.subscribedEvents.set(n),
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
