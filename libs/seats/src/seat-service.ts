import { randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import type { Redis } from "@seatdrop/redis";
import type { Config } from "@seatdrop/config";
import { events as eventsTable, orderItems, orders, seats as seatsTable, type Db } from "@seatdrop/db";
import type { HoldJobs } from "@seatdrop/jobs";
import { metrics, zeroCounter, type Logger } from "@seatdrop/observability";
import { isUuid } from "@seatdrop/protocol";
import { readSequencedRange, type Keys } from "@seatdrop/redis";
import { SeatError, SeatErrorCode, seatErrorFromCode } from "./errors.ts";
import { registerScripts, type ScriptCaller, type ScriptName } from "./scripts.ts";
import {
  decodeAbandonHolds,
  decodeExtendHold,
  decodeHoldRecord,
  decodeLoadEventCommit,
  decodeLockSeat,
  decodeMarkGone,
  decodeRebuildState,
  decodeSeatTransitions,
  decodeReleaseHold,
  decodeReleaseHoldByAdmin,
  decodeReserveHold,
  decodeSetSeatState,
  decodeSnapshot,
  decodeSweepHolds,
  decodeUnlockSeat,
} from "./script-results.ts";
import { TransitionBatcher, type Transition } from "./transition-batcher.ts";
import { resolveHoldSettings, type HoldSettings } from "./settings.ts";
import type { HoldView, SeatEvent, SeatMessage, SeatStateName, Snapshot } from "./types.ts";

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

/** Seat ids per call when a seat map is installed in Redis. */
const LOAD_CHUNK = 10_000;

export type BackendAction = "reserve" | "unreserve" | "pay" | "revoke";

/** An event's box-office rules, mirrored into its Redis meta hash. */
export interface SalesRules {
  salesOpenAt?: Date | null;
  salesCloseAt?: Date | null;
  maxSeatsPerUser?: number | null;
  /** Set while an admin has frozen the event's sales: locks and orders are refused with `sales_paused`. */
  salesPausedAt?: Date | null;
}

/**
 * The seat service: every seat transition of every dialect and app goes through here, and each is
 * ONE Lua script (lua/). Nothing reads a hold, decides, then writes: the script that changes state
 * is the only check, so no race between a read and a write can grant a seat twice.
 */
// Lock, unlock and extend outcomes start at 0 for every result, so the first refusal shows in rate().
zeroCounter(metrics.seatOps, { op: ["lockSeat", "unlockSeat", "extendHold"], result: ["ok", "error", ...Object.keys(SeatErrorCode)] });

export class SeatService {
  private readonly call: ScriptCaller;
  private readonly log: Logger;
  private readonly loading = new Map<string, Promise<boolean>>();
  private readonly batcher: TransitionBatcher;

  constructor(private readonly deps: SeatServiceDeps) {
    this.call = registerScripts(deps.redis);
    this.log = deps.logger.child({ module: "seat-service" });
    this.batcher = new TransitionBatcher({ max: deps.config.SEAT_BATCH_MAX, call: (eventId, batch) => this.callBatch(eventId, batch) });
  }

  /**
   * Locks a seat into the user's hold. No job per hold: the hold's deadline is in the
   * event's deadline index, and when it is the event's earliest, the event's entry in the
   * cluster-wide index is lowered so the worker's sweep finds it (see lua/sweepHolds-19.lua).
   */
  async lock(o: { eventId: string; userId: string; seatId: string; origin?: string }) {
    const { seq, deadline, newHold, holdSize, earliest } = decodeLockSeat(await this.transition(o.eventId, { op: "lock", userId: o.userId, seatId: o.seatId, origin: o.origin ?? "" }));
    if (earliest) await this.indexEvent(o.eventId, deadline);
    return { seq, deadline, newHold, holdSize };
  }

  /** Lowers the event's entry in the cluster-wide index of events with holds to `deadline` (or adds it). */
  private async indexEvent(eventId: string, deadline: number): Promise<void> {
    try {
      await this.deps.redis.zadd(this.deps.keys.holdEvents, "LT", deadline, eventId);
    } catch (err) {
      // The lock stands: the worker's re-index, the nodes' sweeps and every script still enforce the deadline.
      this.log.error({ err, eventId }, "could not index the event's hold deadline");
    }
  }

  async unlock(o: { eventId: string; userId: string; seatId: string; origin?: string }) {
    return decodeUnlockSeat(await this.transition(o.eventId, { op: "unlock", userId: o.userId, seatId: o.seatId, origin: o.origin ?? "" }));
  }

  /** Gives the hold a fresh TTL (bounded by the event's max extensions). */
  async extend(o: { eventId: string; userId: string }) {
    // A later deadline needs no index write: the event's entry stays at or before its earliest hold.
    return decodeExtendHold(await this.run("extendHold", o.eventId, [o.userId]));
  }

  /**
   * Moves a seat between reserved, paid and available. Seed 000's service actions pass no order;
   * the order flow passes `orderId`, which fences the change: an order only ever moves its own seats.
   */
  async setSeatState(o: { eventId: string; seatId: string; action: BackendAction; orderId?: string; userId?: string; why?: string; origin?: string }) {
    return decodeSetSeatState(
      await this.run("setSeatState", o.eventId, [
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
    return decodeReserveHold(await this.run("reserveHold", o.eventId, [o.userId, o.orderId, o.pendingMs ?? ORDER_PENDING_MS, ...(o.seatIds ?? [])]));
  }

  /**
   * Makes the event's reserved and paid seats in Redis match `live` (from PostgreSQL): the rebuild
   * after Redis lost data, or on demand. Returns how many seats changed.
   */
  async rebuildState(eventId: string, live: { seatId: string; orderId: string; userId: string; paid: boolean }[]): Promise<number> {
    const args: string[] = [];
    for (const s of live) args.push(s.seatId, `${s.paid ? "P" : "R"}|${s.orderId}|${s.userId}`);
    return decodeRebuildState(await this.run("rebuildState", eventId, args)).changes;
  }

  /** Releases a hold if it expired or (mode `abandoned`) its user left for longer than the grace. Idempotent. */
  async releaseHold(o: { eventId: string; userId: string; mode: "expired" | "abandoned" }) {
    const { released, reason } = decodeReleaseHold(await this.run("releaseHold", o.eventId, [o.userId, o.mode], false));
    if (released > 0) metrics.holdsExpired.inc({ path: "job", reason });
    return { released, reason };
  }

  /**
   * Releases one user's hold now, whatever its deadline (an admin, from the ops console): its owner
   * hears `deleted` with reason `released_by_admin`. Returns the seats it released (none: no hold).
   */
  async releaseHoldByAdmin(o: { eventId: string; userId: string }): Promise<{ seats: string[] }> {
    return { seats: decodeReleaseHoldByAdmin(await this.run("releaseHold", o.eventId, [o.userId, "admin"], false)).seats };
  }

  /**
   * Freezes (or reopens) an event's sales in Redis: `paused` in its meta hash, which lockSeat and
   * reserveHold read, so every node refuses at once with `sales_paused` (the scripts are the only
   * check). The caller has already written PostgreSQL's `sales_paused_at`, which
   * loadEvent mirrors back if Redis loses the event. Holds are kept with their deadlines.
   * Returns false when the event does not exist.
   */
  async setSalesPaused(eventId: string, paused: boolean): Promise<boolean> {
    if (!(await this.ensureEventLoaded(eventId))) return false;
    await this.deps.redis.hset(this.deps.keys.event(eventId).meta, "paused", paused ? 1 : 0);
    return true;
  }

  /**
   * Releases the event's holds past their deadline, in slices of `limit`, and returns how many were
   * released and the next deadline (0: no hold left). With `lease` (a ws-node), it sweeps only when
   * no other node holds the event's sweep lease, and takes it for `lease.ms`.
   */
  async sweep(eventId: string, o: { limit?: number; lease?: { owner: string; ms: number } } = {}): Promise<{ released: number; next: number; skipped: boolean }> {
    let released = 0;
    // A bounded loop: 10,000 holds due together take 20 slices, each short enough not to stall Redis.
    for (let i = 0; i < 100; i++) {
      const r = decodeSweepHolds(await this.run("sweepHolds", eventId, [o.limit ?? SWEEP_SLICE, o.lease?.ms ?? 0, o.lease?.owner ?? ""], false));
      released += r.released;
      if (r.released > 0) metrics.holdsExpired.inc({ path: "sweep", reason: "expired" }, r.released);
      if (r.skipped) return { released, next: 0, skipped: true };
      if (!r.more) return { released, next: r.next, skipped: false };
    }
    return { released, next: 0, skipped: false };
  }

  /**
   * The worker's hold expiry: every event the cluster-wide index names as due is swept,
   * then its entry is set to its next deadline (or removed) and lowered again to the earliest
   * deadline read afterwards, so a hold created meanwhile is never lost (lua/sweepHolds-19.lua).
   */
  async sweepDue(o: { maxEvents?: number; concurrency?: number } = {}): Promise<{ events: number; released: number }> {
    const { redis, keys } = this.deps;
    const now = await redisNow(redis);
    const due = await redis.zrangebyscore(keys.holdEvents, "-inf", now, "LIMIT", 0, o.maxEvents ?? 1000);
    let released = 0;
    let i = 0;
    const one = async (): Promise<void> => {
      for (;;) {
        const eventId = due[i++];
        if (eventId === undefined) return;
        try {
          // The earliest hold's deadline, for the expiry lag (deadline → release) the alerts watch.
          const head = await redis.zrange(keys.event(eventId).holds, 0, 0, "WITHSCORES");
          const r = await this.sweep(eventId);
          released += r.released;
          if (r.released > 0 && head.length === 2) metrics.holdExpiryLag.observe(Math.max(0, now - Number(head[1])) / 1000);
          if (r.next > 0) await redis.zadd(keys.holdEvents, r.next, eventId);
          else await redis.zrem(keys.holdEvents, eventId);
          await this.reindex(eventId);
        } catch (err) {
          // One event's failure must not stop the others; its entry stays due, so the next tick retries it.
          this.log.error({ err, eventId }, "hold sweep of an event failed");
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 8, due.length) }, one));
    return { events: due.length, released };
  }

  /** Lowers the event's index entry to its earliest hold's deadline, read now (a no-op without holds). */
  async reindex(eventId: string): Promise<void> {
    const head = await this.deps.redis.zrange(this.deps.keys.event(eventId).holds, 0, 0, "WITHSCORES");
    if (head.length === 2) await this.deps.redis.zadd(this.deps.keys.holdEvents, "LT", Number(head[1]), eventId);
  }

  /** The events the cluster-wide index says have (or recently had) holds. */
  async indexedEvents(limit = 10_000): Promise<string[]> {
    return this.deps.redis.zrange(this.deps.keys.holdEvents, 0, limit - 1);
  }

  /**
   * Releases the event's abandoned holds (users no node has vouched for during the grace, e.g.
   * after their node was killed) and expired ones, walking its deadline index in slices.
   */
  async releaseAbandoned(eventId: string, slice = SWEEP_SLICE): Promise<number> {
    let released = 0;
    let from = 0;
    for (let i = 0; i < 1000; i++) {
      const r = decodeAbandonHolds(await this.run("abandonHolds", eventId, [from, slice], false));
      released += r.released;
      if (r.next === 0) break;
      from = r.next;
    }
    return released;
  }

  async snapshot(o: { eventId: string; userId?: string }): Promise<Snapshot> {
    const { seq, flat, deadline: dl, extensionsLeft: extLeft, holdSeats, epoch } = decodeSnapshot(await this.run("snapshot", o.eventId, [o.userId ?? ""]));
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

  /** The user's hold as it stands (read-only: a hold past its deadline reads as none). */
  async holdOf(eventId: string, userId: string): Promise<HoldView | null> {
    const k = this.deps.keys.event(eventId);
    const [[, raw], [, maxExt], [, time]] = (await this.deps.redis.multi().hget(k.holdInfo, userId).hget(k.meta, "maxExt").time().exec()) as [
      [null, string | null],
      [null, string | null],
      [null, [string, string]],
    ];
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    const h = decodeHoldRecord(raw);
    if (!h || h.dl <= now) return null;
    return { seats: h.s.sort(naturalCompare), expiresAt: h.dl, extensionsLeft: Number(maxExt ?? 0) - h.ext };
  }

  /** The event's epoch (changes when Redis lost the event). */
  async epoch(eventId: string): Promise<string | null> {
    return this.deps.redis.hget(this.deps.keys.event(eventId).meta, "epoch");
  }

  /** The event's seat ids (the map), sorted. */
  async seatIds(eventId: string): Promise<string[]> {
    const ids = await this.deps.redis.smembers(this.deps.keys.event(eventId).seatmap);
    return ids.sort(naturalCompare);
  }

  /**
   * Seat → section of the event's seats that have one, from PostgreSQL (the system of record of
   * the layout; a feed's section streams read it once). Empty without a database.
   */
  async seatSections(eventId: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const db = this.deps.db;
    if (!db || !isUuid(eventId)) return out;
    const rows = await db.select({ id: seatsTable.seatId, section: seatsTable.section }).from(seatsTable).where(eq(seatsTable.eventId, eventId));
    for (const r of rows) if (r.section !== null) out.set(r.id, r.section);
    return out;
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
    return entries.map(([, fields]) => JSON.parse(fields[1]!) as SeatEvent);
  }

  /** Node liveness for the abandoned-hold rule; see lua/markLive-19.lua. */
  async markLive(eventId: string, nodeId: string, userIds: string[], windowMs: number): Promise<void> {
    if (userIds.length === 0) return;
    await this.run("markLive", eventId, [nodeId, "live", windowMs, ...userIds], false);
  }

  /** The user's last socket for the event on this node closed: stop vouching, and check the hold after the grace. */
  async markGone(eventId: string, nodeId: string, userId: string): Promise<void> {
    const { hasHold, graceMs } = decodeMarkGone(await this.run("markLive", eventId, [nodeId, "gone", 0, userId], false));
    // One job, at most, per user who leaves: the prompt release after the grace. The worker's
    // abandonment scan is the net behind it (and the only path when a node dies without saying so).
    if (hasHold && this.deps.jobs) await this.deps.jobs.scheduleAbandonCheck({ eventId, userId }, graceMs);
  }

  /**
   * Installs (or refreshes) an event's seat map and settings in Redis. Keeps live state. Returns
   * true when the event was new to Redis (so its sold seats must be rebuilt from PostgreSQL).
   */
  async loadEvent(eventId: string, settings: HoldSettings, seatIds: string[], rules: SalesRules = {}): Promise<boolean> {
    const epoch = randomBytes(6).toString("hex");
    const k = this.deps.keys.event(eventId);
    const token = randomBytes(6).toString("hex"); // the load's staging set: see lua/loadEvent-20.lua
    const keys = [...k.script, k.seatmapStaging(token)];
    const head = [
      settings.holdTtlMs,
      settings.holdMaxSeats,
      settings.holdGraceMs,
      settings.holdMaxExtensions,
      this.deps.config.EVENT_LOG_MAX,
      epoch,
      rules.salesOpenAt?.getTime() ?? 0,
      rules.salesCloseAt?.getTime() ?? 0,
      rules.maxSeatsPerUser ?? 0,
      rules.salesPausedAt ? 1 : 0,
    ];
    // A venue's whole map in one call's arguments overflows the client's stack near 100,000 seats:
    // stage it in chunks, then commit (see lua/loadEvent-20.lua).
    let at = 0;
    for (; seatIds.length - at > LOAD_CHUNK; at += LOAD_CHUNK) await this.call("loadEvent", keys, [...head, "stage", ...seatIds.slice(at, at + LOAD_CHUNK)]);
    const r = decodeLoadEventCommit(await this.call("loadEvent", keys, [...head, "commit", ...seatIds.slice(at)]));
    if (r.isNew) {
      // Announce the new epoch on the event's channel (docs/reliability.md, round one, finding 14):
      // nodes whose watchers hold a map of the lost history resync them now, not at the next seat
      // change, which in a quiet room may never come. An event loaded for the first time has no
      // such watchers; no harm.
      await this.announceEpoch(eventId, r.epoch);
    }
    // The re-lock cool-down is a cluster setting the scripts read from the meta hash like the
    // others. Written after loadEvent (whose argument list the fan-out work also extends); a meta
    // hash left with no `epoch` by a flush in between still reads as "not loaded" to every script.
    await this.deps.redis.hset(k.meta, "cool", this.deps.config.HOLD_RELOCK_COOLDOWN_MS);
    return r.isNew;
  }

  /** Whether the event exists in Redis, loading it from PostgreSQL when it is missing there. */
  async ensureEventLoaded(eventId: string): Promise<boolean> {
    if (!isUuid(eventId)) return false;
    if ((await this.deps.redis.exists(this.deps.keys.event(eventId).meta)) === 1) return true;
    return this.loadFromDb(eventId);
  }

  /** Loads an event from PostgreSQL (deduplicated per event while in flight). */
  loadFromDb(eventId: string): Promise<boolean> {
    const db = this.deps.db;
    if (!db || !isUuid(eventId)) return Promise.resolve(false);
    let p = this.loading.get(eventId);
    if (!p) {
      p = (async () => {
        const [row] = await db.select().from(eventsTable).where(eq(eventsTable.id, eventId));
        if (!row) return false;
        const seatRows = await db.select({ id: seatsTable.seatId }).from(seatsTable).where(eq(seatsTable.eventId, eventId));
        const isNew = await this.loadEvent(eventId, resolveHoldSettings(row, this.deps.config), seatRows.map((s) => s.id), row);
        // An event new to Redis (first use, or Redis lost its data) gets its sold and reserved seats
        // back from PostgreSQL before anyone can lock them.
        const rebuilt = isNew ? await this.rebuildFromDb(eventId) : 0;
        this.log.info({ eventId, seats: seatRows.length, rebuilt }, "event loaded into redis");
        return true;
      })().finally(() => this.loading.delete(eventId));
      this.loading.set(eventId, p);
    }
    return p;
  }

  /**
   * After a Redis Cluster failover of the event's shard, which may have lost its last writes: a new
   * epoch (lua/restartEpoch-19.lua), reserved and paid seats rebuilt from PostgreSQL, and the epoch
   * announced, so every node resyncs its watchers and each holder learns whether their hold
   * survived, as after a Redis restart. False when the event is not loaded (its next use loads it).
   */
  async restartEpoch(eventId: string): Promise<boolean> {
    const k = this.deps.keys.event(eventId);
    const epoch = randomBytes(6).toString("hex");
    const r = await this.call("restartEpoch", k.script, [epoch]);
    if (isErr(r)) return false;
    if (this.deps.db) await this.rebuildFromDb(eventId);
    await this.announceEpoch(eventId, epoch);
    this.log.warn({ eventId, epoch }, "event given a new epoch after its Redis shard failed over");
    return true;
  }

  /**
   * Publishes the event's epoch (`epoch`, or the current one) with no events: every node whose
   * watchers follow another epoch resyncs them. Pub/sub is at most once, so a node whose subscriber
   * was still moving to a promoted replica misses it; `failover-recovery` announces twice.
   */
  async announceEpoch(eventId: string, epoch?: string): Promise<void> {
    const ep = epoch ?? (await this.epoch(eventId));
    if (!ep) return;
    const announcement: SeatMessage = { ev: [], ep };
    await this.deps.redis.spublish(this.deps.keys.event(eventId).channel, JSON.stringify(announcement));
  }

  /** Reads the event's live order items from PostgreSQL and makes Redis agree (see rebuildState). */
  async rebuildFromDb(eventId: string): Promise<number> {
    const db = this.deps.db;
    if (!db) throw new Error("rebuildFromDb needs a database");
    const rows = await db
      .select({ seatId: orderItems.seatId, orderId: orders.id, userId: orders.userId, status: orders.status })
      .from(orderItems)
      .innerJoin(orders, eq(orders.id, orderItems.orderId))
      .where(and(eq(orderItems.eventId, eventId), eq(orderItems.live, true)));
    return this.rebuildState(
      eventId,
      rows.map((r) => ({ seatId: r.seatId, orderId: r.orderId, userId: r.userId, paid: r.status === "paid" })),
    );
  }

  /**
   * Runs a script for an event; a negative code becomes a SeatError. An unknown event is looked up
   * in PostgreSQL once (Redis may have been flushed, or the event just created) before giving up.
   */
  private async run(name: ScriptName, eventId: string, args: (string | number)[], checkCode = true): Promise<unknown> {
    const k = this.deps.keys.event(eventId);
    return this.counted(name, checkCode, async () => {
      let r = await this.call(name, k.script, args);
      if (checkCode && isErr(r) && r[0] === -1 && (await this.loadFromDb(eventId))) r = await this.call(name, k.script, args);
      return r;
    });
  }

  /**
   * A lock or unlock, group-committed with the event's other transitions of this process
   * (TransitionBatcher, lua/seatTransitions-19.lua); counted under `lockSeat` / `unlockSeat` as when
   * each had a script of its own. An unknown event is looked up in PostgreSQL once, as in run().
   */
  private transition(eventId: string, t: Transition): Promise<unknown> {
    return this.counted(t.op === "lock" ? "lockSeat" : "unlockSeat", true, async () => {
      let r = await this.batcher.submit(eventId, t);
      if (isErr(r) && r[0] === -1 && (await this.loadFromDb(eventId))) r = await this.batcher.submit(eventId, t);
      return r;
    });
  }

  /** One call of seatTransitions for a batch: one reply per transition, checked here. */
  private async callBatch(eventId: string, batch: readonly Transition[]): Promise<unknown[]> {
    const k = this.deps.keys.event(eventId);
    const args: string[] = [];
    for (const t of batch) args.push(t.op, t.userId, t.seatId, t.origin);
    return decodeSeatTransitions(await this.call("seatTransitions", k.script, args), batch.length);
  }

  /** Times and counts a seat operation by outcome; a refusal (negative code) becomes a SeatError when `checkCode`. */
  private async counted(op: SeatOpName, checkCode: boolean, body: () => Promise<unknown>): Promise<unknown> {
    const started = performance.now();
    let r: unknown;
    try {
      r = await body();
    } catch (err) {
      metrics.seatOps.inc({ op, result: "error" }); // Redis (or PostgreSQL) failed: not a refusal
      throw err;
    }
    metrics.seatOpSeconds.observe({ op }, (performance.now() - started) / 1000);
    if (checkCode && isErr(r)) {
      const e = seatErrorFromCode(r[0], typeof r[1] === "string" ? r[1] : undefined, typeof r[2] === "number" ? r[2] : undefined);
      metrics.seatOps.inc({ op, result: e.reason });
      throw e;
    }
    metrics.seatOps.inc({ op, result: "ok" });
    return r;
  }
}

/** The `op` label of the seat metrics: a script's name, or the transition a batch applied. */
type SeatOpName = ScriptName | "lockSeat" | "unlockSeat";

/** Holds one sweep or abandonment script looks at per call: enough to keep up, short enough not to stall Redis. */
const SWEEP_SLICE = 500;

/** Redis's clock (the one the scripts use), in ms. */
async function redisNow(redis: Redis): Promise<number> {
  const [sec, usec] = await redis.time();
  return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
}

function isErr(r: unknown): r is [number, unknown?, unknown?] {
  return Array.isArray(r) && typeof r[0] === "number" && r[0] < 0;
}

/** Lower-case UUIDs only; the pattern's one home is libs/protocol (ids.ts). */
export { isUuid };

const collator = new Intl.Collator("en", { numeric: true });
/** Orders `A_2` before `A_10`, as a seat map reads. */
export function naturalCompare(a: string, b: string): number {
  return collator.compare(a, b);
}

export { SeatError };
