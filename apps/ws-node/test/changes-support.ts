import { events, seats as seatsTable } from "@seatdrop/db";
import { SeatMapFollower } from "@seatdrop/protocol";
import type { SeatService } from "@seatdrop/seats";
import type { PhxClient, Received } from "../../../test/support/cluster.ts";
import type { TestEnv } from "../../../test/support/test-env.ts";

/** Helpers of the `changes` tests: sectioned events, and a client that applies frames as a real one would. */

/** An event whose seats carry sections: `{floor: ["F_1", …], balcony: […]}`. Inserted in chunks (100,000 seats fit). */
export async function createSectionedEvent(env: TestEnv, sections: Record<string, string[]>): Promise<string> {
  return env.db.db.transaction(async (tx) => {
    const [row] = await tx
      .insert(events)
      .values({ name: "Sectioned drop", description: "", location: "Arena", startTime: new Date(Date.now() + 86_400_000), endTime: new Date(Date.now() + 90_000_000) })
      .returning({ id: events.id });
    const rows = Object.entries(sections).flatMap(([section, ids]) => ids.map((seatId) => ({ eventId: row!.id, seatId, section, priceCents: 1000 })));
    for (let i = 0; i < rows.length; i += 10_000) await tx.insert(seatsTable).values(rows.slice(i, i + 10_000));
    return row!.id;
  });
}

export function seatRange(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}_${i + 1}`);
}

export interface ChangesFrame {
  since: number;
  seq: number;
  seats: Record<string, string>;
  section?: string;
}

/**
 * A seat map kept as a client of `changes` keeps it, by the shared follower (libs/protocol
 * map-follower.js): the compact snapshot of the join (taken seats only), then every frame of the
 * log applied under the documented rule. A frame the follower does not take (a gap, or a stream not
 * joined) is recorded in `gaps` (a real client would rejoin with `last_seq`); the map goes on
 * from the next frames, as these tests read every frame whatever comes.
 */
export class ChangesMap {
  readonly follower = new SeatMapFollower({ changes: true, applyGaps: true });
  /** seat -> state, taken seats only. */
  readonly taken = this.follower.seats;
  /** The seq held per stream ("" is the whole event). */
  readonly seqOf = this.follower.seqOf;
  readonly frames: ChangesFrame[] = [];
  readonly gaps: ChangesFrame[] = [];
  private read = 0;

  constructor(
    reply: Record<string, unknown>,
    private readonly log: Received[],
  ) {
    this.reset(reply);
  }

  /** A join (or rejoin) reply: a snapshot replaces the map; a `changes` catch-up is applied on top. */
  reset(reply: Record<string, unknown>): void {
    this.follower.join(reply);
  }

  /** Applies frames received since the last call; returns how many. */
  drain(): number {
    let n = 0;
    for (; this.read < this.log.length; this.read++) {
      const m = this.log[this.read]!;
      if (m.event !== "changes") continue;
      const f = m.payload as unknown as ChangesFrame;
      this.frames.push(f);
      if (this.follower.apply("changes", f) !== "applied") this.gaps.push(f);
      n++;
    }
    return n;
  }

  /** The lowest seq held over the streams: what a rejoin gives as `last_seq`. */
  get lastSeq(): number {
    return this.follower.lastSeq ?? 0;
  }
}

/** The map as Redis has it (what `GET /api/events/:id/seats` serves): taken seats only. */
export async function takenInRedis(seats: SeatService, eventId: string, only?: (seat: string) => boolean): Promise<Map<string, string>> {
  const snap = await seats.snapshot({ eventId });
  const out = new Map<string, string>();
  for (const [seat, s] of snap.taken) if (!only || only(seat)) out.set(seat, s.state);
  return out;
}

export function sorted(m: Map<string, string>): [string, string][] {
  return [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
}

/** Joins `seats:<event>` in changes mode and wraps the reply in a ChangesMap. */
export async function joinChanges(client: PhxClient, eventId: string, params: Record<string, unknown> = {}) {
  const j = await client.join(`seats:${eventId}`, { changes: true, ...params });
  return { ...j, map: new ChangesMap(j.reply, j.log) };
}
