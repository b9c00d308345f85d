import type { TemplatedApp } from "uWebSockets.js";
import { flushSends } from "../conn.ts";
import { encodeChanges, seatStateAfter, uwsTopic, type SeatEvent, type SeatState } from "@seatdrop/protocol";

/** One stream of `changes` frames on this node: the whole event, or one section of it. */
interface Stream {
  section: string | undefined;
  topic: string;
  /** Local sockets subscribed to the stream's uWS topic. */
  watchers: number;
  /** `seq` of the stream's previous frame: the next frame's `since`. */
  lastSent: number;
}

/** An event's coalescing state on this node. */
interface EventChanges {
  eventId: string;
  /** Keyed by section; `undefined` is the whole-event stream. */
  streams: Map<string | undefined, Stream>;
  /** Seat → final state of every seat changed since the last flush (insertion order kept). */
  pending: Map<string, SeatState>;
  /** The seq of the last event recorded in `pending`: the next frame's `seq`. */
  pendingSeq: number;
  /** Armed while the event is "busy": changes wait for it; when it fires with nothing pending, the event is quiet again. */
  timer: NodeJS.Timeout | undefined;
  /** Seat → section, for events with section streams (read from PostgreSQL once per feed). */
  sectionOf: ReadonlyMap<string, string> | undefined;
}

/**
 * Coalesced seat updates (docs/decisions/0001-coalesced-changes-frames.md). Per event and tick,
 * each stream with local watchers gets at most one `changes` frame carrying each changed seat's
 * final state, encoded once and handed to a uWS topic (the copy to each socket happens in C++). So a
 * room's cost grows with watchers × ticks, not watchers × changes.
 *
 * The first change after a quiet tick is flushed at once (a calm room keeps millisecond latency)
 * and arms the tick; what arrives before it fires waits for it. A tick that fires with nothing
 * pending leaves the event quiet.
 */
export class SeatChanges {
  private readonly events = new Map<string, EventChanges>();

  constructor(
    private readonly app: TemplatedApp,
    private readonly tickMs: number,
  ) {}

  /**
   * A socket starts watching streams of the event (all of it, or the sections named). Must be
   * called in the same tick as the join's view was computed against the feed at `seq`: a new
   * stream starts there, so its first frame's `since` is never above the joiner's seq.
   * Returns the uWS topics the socket must subscribe to.
   */
  watch(eventId: string, sections: readonly string[] | null, seq: number, sectionOf?: ReadonlyMap<string, string>): string[] {
    let ec = this.events.get(eventId);
    if (!ec) {
      ec = { eventId, streams: new Map(), pending: new Map(), pendingSeq: seq, timer: undefined, sectionOf };
      this.events.set(eventId, ec);
    }
    if (sectionOf) ec.sectionOf = sectionOf;
    const topics: string[] = [];
    for (const section of sections ?? [undefined]) {
      let s = ec.streams.get(section);
      if (!s) {
        s = { section, topic: uwsTopic.phxChanges(eventId, section), watchers: 0, lastSent: seq };
        ec.streams.set(section, s);
      }
      s.watchers++;
      topics.push(s.topic);
    }
    return topics;
  }

  /** Undo of `watch`; returns the topics to unsubscribe. The last watcher of an event drops its state. */
  unwatch(eventId: string, sections: readonly string[] | null): string[] {
    const ec = this.events.get(eventId);
    const topics: string[] = [];
    for (const section of sections ?? [undefined]) {
      topics.push(uwsTopic.phxChanges(eventId, section));
      const s = ec?.streams.get(section);
      if (s && --s.watchers <= 0) ec!.streams.delete(section);
    }
    if (ec && ec.streams.size === 0) this.drop(ec);
    return topics;
  }

  /** Seat events the feed delivered (in seq order). */
  record(eventId: string, events: readonly SeatEvent[]): void {
    const ec = this.events.get(eventId);
    if (!ec || events.length === 0) return;
    for (const ev of events) {
      // Delete first so a seat that changes again moves to the end: frames list seats in the
      // order of their last change, which reads naturally in logs.
      ec.pending.delete(ev.seat);
      ec.pending.set(ev.seat, seatStateAfter(ev));
    }
    ec.pendingSeq = events[events.length - 1]!.seq;
    if (ec.timer === undefined) {
      this.flush(ec);
      this.arm(ec);
    }
  }

  /**
   * The event's history restarted (a new epoch) or the feed lost track: what is pending belongs to
   * the old history. Its watchers were told to rejoin and have left (their new joins start fresh).
   */
  reset(eventId: string): void {
    const ec = this.events.get(eventId);
    if (!ec) return;
    ec.pending.clear();
    if (ec.timer) clearTimeout(ec.timer);
    ec.timer = undefined;
    if (ec.streams.size === 0) this.events.delete(eventId);
  }

  private arm(ec: EventChanges): void {
    ec.timer = setTimeout(() => {
      ec.timer = undefined;
      if (ec.pending.size === 0 || this.events.get(ec.eventId) !== ec) return;
      this.flush(ec);
      this.arm(ec);
    }, this.tickMs);
    ec.timer.unref();
  }

  private drop(ec: EventChanges): void {
    if (ec.timer) clearTimeout(ec.timer);
    ec.timer = undefined;
    this.events.delete(ec.eventId);
  }

  /** One frame per stream that has changes: encoded once, published once. */
  private flush(ec: EventChanges): void {
    if (ec.pending.size === 0) return;
    const seq = ec.pendingSeq;
    let whole: Record<string, SeatState> | undefined;
    let bySection: Map<string, Record<string, SeatState>> | undefined;
    for (const s of ec.streams.values()) {
      if (s.section === undefined) whole = {};
      else (bySection ??= new Map()).set(s.section, {});
    }
    let n = 0;
    for (const [seat, state] of ec.pending) {
      if (whole) whole[seat] = state;
      if (bySection) {
        const section = ec.sectionOf?.get(seat);
        const bucket = section === undefined ? undefined : bySection.get(section);
        if (bucket) bucket[seat] = state;
      }
      n++;
    }
    ec.pending.clear();
    if (n === 0) return;
    for (const s of ec.streams.values()) {
      const seats = s.section === undefined ? whole! : bySection!.get(s.section)!;
      if (isEmpty(seats)) continue;
      const frame = encodeChanges(ec.eventId, s.section === undefined ? { since: s.lastSent, seq, seats } : { since: s.lastSent, seq, seats, section: s.section });
      flushSends(); // what sendTo queued goes out first (conn.ts)
      this.app.publish(s.topic, frame, false);
      s.lastSent = seq;
    }
  }
}

function isEmpty(o: Record<string, unknown>): boolean {
  for (const _ in o) return false;
  return true;
}
