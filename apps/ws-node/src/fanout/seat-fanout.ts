import type { TemplatedApp } from "uWebSockets.js";
import { seatJoin } from "../channels/seats.ts";
import {
  encodePhx,
  encodeSeed,
  isHoldRelease,
  phxBroadcast,
  phxDeleted,
  phxForAuthor,
  seatsTopic,
  seedBroadcast,
  seedDeleted,
  seedForAuthor,
  uwsTopic,
  type SeatEvent,
} from "@seatdrop/protocol";
import { flushSends, sendTo, type Conn } from "../conn.ts";
import type { LocalRegistry } from "../registry.ts";
import type { SeatChanges } from "./seat-changes.ts";

/**
 * Turns an event's seat events into frames on this node. Each frame is encoded once
 * per dialect and handed to uWS topics, which copy it to every subscriber in C++; the author of a
 * push gets its own `…ForYou` frame instead, and the owner of an expired hold gets `deleted`.
 * Sockets joined with `{"changes": true}` get no per-change broadcasts: the same events go to
 * `SeatChanges`, which coalesces them per tick; their personal frames stay immediate.
 */
export class SeatFanout {
  constructor(
    private readonly app: TemplatedApp,
    private readonly registry: LocalRegistry,
    private readonly nodeId: string,
    private readonly changes: SeatChanges,
  ) {}

  deliver(eventId: string, events: SeatEvent[], origin: string | undefined): void {
    // A batch's events each name their own origin (none: no author); a message of one script run
    // names one for all. The author is looked up again only when the origin changes.
    let authorOrigin = origin;
    let author = this.localAuthor(origin);
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      const o = ev.o ?? origin;
      if (o !== authorOrigin) {
        authorOrigin = o;
        author = this.localAuthor(o);
      }
      if (ev.u && isHoldRelease(ev)) {
        const run = [ev];
        while (i + 1 < events.length && events[i + 1]!.u === ev.u && events[i + 1]!.why === ev.why) run.push(events[++i]!);
        this.deliverRelease(eventId, ev.u, run);
        continue;
      }
      const mine = author && (ev.t === "locked" || ev.t === "unlocked") && ev.u === author.userId && this.watches(author, eventId) ? author : undefined;
      if (mine) this.sendPersonal(mine, eventId, phxForAuthor(ev), seedForAuthor(ev));
      this.broadcast(eventId, ev, mine ? [mine] : []);
    }
    this.changes.record(eventId, events);
  }

  /** The owner's connections hear `deleted` once for the whole hold; everyone else `unlocked` per seat. */
  private deliverRelease(eventId: string, owner: string, run: SeatEvent[]): void {
    const owners = [...this.registry.ofUser(eventId, owner)];
    for (const c of owners) this.sendPersonal(c, eventId, phxDeleted(run), seedDeleted(run));
    for (const ev of run) this.broadcast(eventId, ev, owners);
  }

  /** Per-change frames for the legacy subscribers of each dialect; nothing is encoded for a dialect nobody here watches that way. */
  private broadcast(eventId: string, ev: SeatEvent, excluded: Conn[]): void {
    const phxTopic = uwsTopic.phxSeats(eventId);
    if (this.app.numSubscribers(phxTopic) > 0) {
      const p = phxBroadcast(ev);
      this.publish(eventId, "phx", phxTopic, encodePhx(null, null, seatsTopic(eventId), p.event, p.payload), excluded);
    }
    const seedTopic = uwsTopic.seedSeats(eventId);
    if (this.app.numSubscribers(seedTopic) > 0) {
      const s = seedBroadcast(ev);
      this.publish(eventId, "seed", seedTopic, encodeSeed(s.event, s.data), excluded);
    }
  }

  /**
   * uWS's `ws.publish` skips its own socket, so one excluded socket costs nothing; several (a user
   * with many tabs on this node) fall back to sending the one encoded frame to each other watcher.
   */
  private publish(eventId: string, dialect: Conn["dialect"], topic: string, frame: string, excluded: Conn[]): void {
    flushSends(); // frames queued by sendTo go out before this broadcast, as they were sent before it
    const ex = excluded.filter((c) => c.dialect === dialect && !c.closed && c.ws);
    if (ex.length === 0) {
      this.app.publish(topic, frame, false);
    } else if (ex.length === 1) {
      ex[0]!.ws!.publish(topic, frame, false);
    } else {
      for (const c of this.registry.watchers(eventId)) if (c.dialect === dialect && !ex.includes(c) && !this.inChangesMode(c, eventId)) sendTo(c, frame);
    }
  }

  private sendPersonal(conn: Conn, eventId: string, phx: { event: string; payload: unknown }, seed: { event: string; data: unknown }): void {
    if (conn.dialect === "seed") {
      sendTo(conn, encodeSeed(seed.event, seed.data));
      return;
    }
    const join = seatJoin(conn, eventId);
    if (join) sendTo(conn, encodePhx(join.joinRef, null, join.topic, phx.event, phx.payload));
  }

  private localAuthor(origin: string | undefined): Conn | undefined {
    if (!origin) return undefined;
    const i = origin.lastIndexOf(":");
    if (origin.slice(0, i) !== this.nodeId) return undefined;
    return this.registry.conns.get(Number(origin.slice(i + 1)));
  }

  private inChangesMode(conn: Conn, eventId: string): boolean {
    return conn.dialect === "phx" && seatJoin(conn, eventId)?.assigns?.changes !== undefined;
  }

  private watches(conn: Conn, eventId: string): boolean {
    return seatJoin(conn, eventId) !== undefined;
  }
}
