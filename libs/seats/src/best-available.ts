import type { Keys, Redis } from "@seatdrop/redis";
import { findBlocks } from "./block-finder.ts";
import { SeatError } from "./errors.ts";
import type { HoldKeeper } from "./hold-keeper.ts";
import { decodeLockBlock } from "./script-results.ts";
import type { SeatScripts } from "./seat-scripts.ts";
import type { SeatLayouts } from "./seat-layout.ts";

/**
 * Ranked blocks sent to the lock script per attempt: a buyer racing others for the same best
 * block falls back to the next inside the same script call, with no round trip.
 */
export const BLOCK_CANDIDATES = 8;
/** Fresh reads of the map when every candidate of an attempt was taken in between (a busy drop). */
const ATTEMPTS = 3;

export interface BestAvailableRequest {
  eventId: string;
  userId: string;
  count: number;
  section?: string;
  /** Only seats priced at most this, in cents. */
  maxPriceCents?: number;
  /** `<nodeId>:<connId>` of the asking connection (author exclusion in fan-out), or "". */
  origin?: string;
}

export interface BestAvailableResult {
  /** The block locked, in seat-number order. */
  seats: string[];
  seq: number;
  deadline: number;
  holdSize: number;
  newHold: boolean;
}

/**
 * Best-available: the event's layout (kept per event) and which seats are taken now (one HKEYS
 * of the state hash) rank the candidate blocks in this process (block-finder.ts); then ONE
 * transition of the event's group commit (lockBlock in lua/includes/transitions.lua) locks the
 * first candidate still wholly free, all its seats or none, with every rule of a lock. The map
 * read here may be stale by the time the script runs; the script is the only check, so staleness
 * only costs a candidate, never a double sale or a partial block.
 */
export async function bestAvailable(
  deps: { redis: Redis; keys: Keys; scripts: SeatScripts; layouts: SeatLayouts; holds: HoldKeeper },
  o: BestAvailableRequest,
): Promise<BestAvailableResult> {
  const layout = await deps.layouts.get(o.eventId);
  if (!layout) throw new SeatError("unknown_event");
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const taken = new Set(await deps.redis.hkeys(deps.keys.event(o.eventId).state));
    const found = findBlocks(layout, (id) => taken.has(id), { count: o.count, section: o.section, maxPriceCents: o.maxPriceCents, limit: BLOCK_CANDIDATES });
    if (found.blocks.length === 0) throw new SeatError("no_block", undefined, undefined, found.split ? { split: found.split } : undefined);
    let reply: unknown;
    try {
      reply = await deps.scripts.transition(o.eventId, { op: "block", userId: o.userId, seatId: found.blocks.map((b) => b.join(" ")).join(","), origin: o.origin ?? "" });
    } catch (err) {
      if (err instanceof SeatError && err.reason === "no_block") continue; // every candidate went meanwhile: read again
      throw err;
    }
    const r = decodeLockBlock(reply);
    if (r.earliest) await deps.holds.indexEvent(o.eventId, r.deadline);
    return { seats: found.blocks[r.index]!, seq: r.seq, deadline: r.deadline, holdSize: r.holdSize, newHold: r.newHold };
  }
  throw new SeatError("no_block");
}
