import { seatStateAfter, type SeatEvent } from "@seatdrop/protocol";
import { continues } from "@seatdrop/streams";
import type { HoldView, SeatService, Snapshot } from "@seatdrop/seats";
import type { EventFeed } from "./event-feed.ts";

/** What a joining connection is told: a whole snapshot, or only the events it missed. */
export type SeatView =
  | { mode: "snapshot"; seq: number; epoch: string; taken: Snapshot["taken"]; hold: HoldView | null; seatIds: string[] | undefined }
  | { mode: "events"; seq: number; epoch: string; events: SeatEvent[]; hold: HoldView | null };

/**
 * Prepares a join's view and calls `commit` with it in the same tick as the feed's state it was
 * computed against, so the socket subscribes exactly where its view ends: nothing missed, nothing
 * twice. `isCurrent` is checked after every await (the socket may have closed or rejoined).
 */
export async function prepareSeatView(o: {
  seats: SeatService;
  feed: EventFeed;
  eventId: string;
  userId: string | null;
  lastSeq?: number;
  /** The epoch the client's `lastSeq` belongs to; another epoch means its numbers mean nothing now. */
  epoch?: string;
  /** A compact snapshot (taken seats only): the event's seat ids are not needed. */
  compact?: boolean;
  isCurrent: () => boolean;
  commit: (view: SeatView) => void;
}): Promise<void> {
  const { seats, feed, eventId, userId } = o;
  // A client without an epoch (an older one) is taken to be in the feed's.
  if (o.lastSeq !== undefined && continues({ seq: o.lastSeq, epoch: o.epoch ?? feed.epoch }, { seq: feed.lastSeq, epoch: feed.epoch })) {
    const hold = userId ? await seats.holds.holdOf(eventId, userId) : null;
    if (!o.isCurrent()) return;
    const events = await feed.itemsSince(o.lastSeq, o.isCurrent);
    if (events === undefined) return;
    if (events !== null) {
      o.commit({ mode: "events", seq: Math.max(o.lastSeq, feed.lastSeq), epoch: feed.epoch ?? "", events, hold });
      return;
    }
    // The log no longer reaches back that far: a snapshot it is.
  }
  if (!o.compact && !feed.seatIds) feed.seatIds = await seats.events.seatIds(eventId);
  for (let attempt = 0; attempt < 3; attempt++) {
    const snap = await seats.snapshot({ eventId, userId: userId ?? undefined });
    if (!o.isCurrent()) return;
    feed.adoptEpoch(snap.epoch, snap.seq);
    await feed.reached(snap.seq);
    if (!o.isCurrent()) return;
    const tail = feed.eventsSince(snap.seq);
    if (tail === null) continue; // more happened meanwhile than the ring keeps: take a newer snapshot
    for (const ev of tail) applyEvent(snap.taken, ev);
    o.commit({ mode: "snapshot", seq: Math.max(snap.seq, feed.lastSeq), epoch: snap.epoch, taken: snap.taken, hold: snap.hold, seatIds: o.compact ? undefined : feed.seatIds });
    return;
  }
  throw new Error(`could not take a consistent snapshot of event ${eventId}`);
}

function applyEvent(taken: Snapshot["taken"], ev: SeatEvent): void {
  const state = seatStateAfter(ev);
  if (state === "available") taken.delete(ev.seat);
  else taken.set(ev.seat, state === "locked" ? { state, userId: ev.u } : { state });
}
