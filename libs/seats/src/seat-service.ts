import type { Config } from "@seatdrop/config";
import type { Db } from "@seatdrop/db";
import type { HoldJobs } from "@seatdrop/jobs";
import { metrics, zeroCounter, type Logger } from "@seatdrop/observability";
import { isUuid, seatEventSchema } from "@seatdrop/protocol";
import type { Keys, Redis } from "@seatdrop/redis";
import { decodeBus, readSequencedRange } from "@seatdrop/streams";
import { bestAvailable, type BestAvailableRequest, type BestAvailableResult } from "./best-available.ts";
import { SeatError, SeatErrorCode } from "./errors.ts";
import { EventLoader } from "./event-loader.ts";
import { HoldKeeper } from "./hold-keeper.ts";
import { naturalCompare } from "./natural-compare.ts";
import { SeatLayouts } from "./seat-layout.ts";
import { SeatScripts } from "./seat-scripts.ts";
import { decodeExtendHold, decodeLockSeat, decodeReserveHold, decodeSetSeatState, decodeSnapshot, decodeUnlockSeat } from "./script-results.ts";
import type { HoldView, SeatEvent, SeatStateName, Snapshot } from "./types.ts";

export interface SeatServiceDeps {
  redis: Redis;
  keys: Keys;
  config: Config;
  logger: Logger;
  /** Where the event's seat map comes from when Redis does not have it (first use, or after a flush). */
  db?: Db;
  /** Producer of the abandonment check jobs; without it only the worker's abandonment scan releases abandoned holds. */
  jobs?: HoldJobs;
}

/**
 * How long a reserved order may take to reach PostgreSQL before a rebuild treats its seats as
 * orphans (the API died between the Redis script and the transaction) and releases them.
 */
export const ORDER_PENDING_MS = 60_000;

export type BackendAction = "reserve" | "unreserve" | "pay" | "revoke";

// Lock, unlock and extend outcomes start at 0 for every result, so the first refusal shows in rate().
zeroCounter(metrics.seatOps, { op: ["lockSeat", "unlockSeat", "extendHold", "bestAvailable"], result: ["ok", "error", ...Object.keys(SeatErrorCode)] });

/**
 * The seat service: every seat transition of every dialect and app goes through here (lock,
 * unlock, extend, reserve, pay, release), and each is ONE Lua script (lua/). Nothing reads a hold,
 * decides, then writes: the script that changes state is the only check, so two nodes racing for a
 * seat can never both win. Its two companions have homes of their own: `holds` ends holds (expiry,
 * abandonment, liveness, an admin's release) for the worker and the ws-nodes alike, and `events`
 * installs events from PostgreSQL, restarts their epochs and rebuilds their sold seats.
 */
export class SeatService {
  readonly holds: HoldKeeper;
  readonly events: EventLoader;
  /** Layouts by event (PostgreSQL's seat rows as sections and rows), for best-available; null without a database. */
  readonly layouts: SeatLayouts | null;
  private readonly scripts: SeatScripts;

  constructor(private readonly deps: SeatServiceDeps) {
    const log = deps.logger.child({ module: "seat-service" });
    this.scripts = new SeatScripts({ redis: deps.redis, keys: deps.keys, batchMax: deps.config.SEAT_BATCH_MAX });
    this.holds = new HoldKeeper(deps, this.scripts, log);
    this.events = new EventLoader(deps, this.scripts, log);
    this.scripts.loadMissing = (eventId) => this.events.loadFromDb(eventId);
    this.layouts = deps.db ? new SeatLayouts(deps.db) : null;
  }

  /**
   * Locks a seat into the user's hold. No job per hold: the hold's deadline is in the
   * event's deadline index, and when it is the event's earliest, the event's entry in the
   * cluster-wide index is lowered so the worker's sweep finds it (see lua/sweepHolds-19.lua).
   */
  async lock(o: { eventId: string; userId: string; seatId: string; origin?: string }) {
    const { seq, deadline, newHold, holdSize, earliest } = decodeLockSeat(await this.scripts.transition(o.eventId, { op: "lock", userId: o.userId, seatId: o.seatId, origin: o.origin ?? "" }));
    if (earliest) await this.holds.indexEvent(o.eventId, deadline);
    return { seq, deadline, newHold, holdSize };
  }

  /**
   * Locks the best block of `count` adjacent free seats into the user's hold, all or none
   * (best-available.ts). Throws `no_block`, with the split offer in `extra` when there is one.
   */
  async bestAvailable(o: BestAvailableRequest): Promise<BestAvailableResult> {
    if (!this.layouts) throw new Error("best-available needs the event layouts: construct SeatService with a database");
    const { redis, keys } = this.deps;
    return bestAvailable({ redis, keys, scripts: this.scripts, layouts: this.layouts, holds: this.holds }, o);
  }

  async unlock(o: { eventId: string; userId: string; seatId: string; origin?: string }) {
    return decodeUnlockSeat(await this.scripts.transition(o.eventId, { op: "unlock", userId: o.userId, seatId: o.seatId, origin: o.origin ?? "" }));
  }

  /** Gives the hold a fresh TTL (bounded by the event's max extensions). */
  async extend(o: { eventId: string; userId: string }) {
    // A later deadline needs no index write: the event's entry stays at or before its earliest hold.
    return decodeExtendHold(await this.scripts.run("extendHold", o.eventId, [o.userId]));
  }

  /**
   * Moves a seat between reserved, paid and available. The legacy seat dialect's service actions pass no order;
   * the order flow passes `orderId`, which fences the change: an order only ever moves its own seats.
   */
  async setSeatState(o: { eventId: string; seatId: string; action: BackendAction; orderId?: string; userId?: string; why?: string; origin?: string }) {
    return decodeSetSeatState(
      await this.scripts.run("setSeatState", o.eventId, [
      o.seatId,
      o.action,
      o.orderId ?? "svc",
      o.origin ?? "",
      o.orderId ? "1" : "",
      o.userId ?? "",
      o.why ?? "",
      ]),
    );
  }

  /**
   * Turns seats of the user's live hold (all of them, or those named) into the order's reserved
   * seats, atomically. Throws `no_hold` (none, or expired) or `not_in_hold` naming the seat.
   */
  async reserveHold(o: { eventId: string; userId: string; orderId: string; seatIds?: string[]; pendingMs?: number }): Promise<{ seq: number; seats: string[] }> {
    return decodeReserveHold(await this.scripts.run("reserveHold", o.eventId, [o.userId, o.orderId, o.pendingMs ?? ORDER_PENDING_MS, ...(o.seatIds ?? [])]));
  }

  async snapshot(o: { eventId: string; userId?: string }): Promise<Snapshot> {
    const { seq, flat, deadline: dl, extensionsLeft: extLeft, holdSeats, epoch } = decodeSnapshot(await this.scripts.run("snapshot", o.eventId, [o.userId ?? ""]));
    const taken: Snapshot["taken"] = new Map();
    for (let i = 0; i < flat.length; i += 2) {
      const v = flat[i + 1]!;
      const kind = v[0];
      const state: Exclude<SeatStateName, "available"> = kind === "L" ? "locked" : kind === "R" ? "reserved" : "paid";
      if (kind === "L") taken.set(flat[i]!, { state, userId: v.slice(2) });
      else {
        // `R|<order>|<user>`: the order and its buyer.
        const [, orderId, userId] = v.split("|");
        taken.set(flat[i]!, { state, orderId, userId: userId || undefined });
      }
    }
    const hold: HoldView | null = dl > 0 ? { seats: holdSeats.sort(naturalCompare), expiresAt: dl, extensionsLeft: extLeft } : null;
    return { seq, epoch, taken, hold };
  }

  async currentSeq(eventId: string): Promise<number> {
    return Number((await this.deps.redis.get(this.deps.keys.event(eventId).seq)) ?? 0);
  }

  /**
   * Logged events with fromSeq ≤ seq ≤ toSeq, or null when the log no longer reaches back to
   * fromSeq (trimmed, or Redis lost it): the caller then needs a snapshot.
   */
  async readLog(eventId: string, fromSeq: number, toSeq?: number): Promise<SeatEvent[] | null> {
    const entries = await readSequencedRange(this.deps.redis, this.deps.keys.event(eventId).log, fromSeq, toSeq);
    if (entries === null) return null;
    if (entries.length === 0) {
      const seq = await this.currentSeq(eventId);
      return seq < fromSeq ? [] : null;
    }
    return entries.map(([, fields]) => decodeBus(seatEventSchema, fields[1]!, "seat log entry"));
  }
}

/** Lower-case UUIDs only; the pattern's one home is libs/protocol (ids.ts). */
export { isUuid, naturalCompare };

export { SeatError };
