import { randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { events as eventsTable, orderItems, orders, seats as seatsTable } from "@seatdrop/db";
import type { Logger } from "@seatdrop/observability";
import { isUuid } from "@seatdrop/protocol";
import { naturalCompare } from "./natural-compare.ts";
import { isErr, type SeatScripts } from "./seat-scripts.ts";
import type { SeatServiceDeps } from "./seat-service.ts";
import { decodeLoadEventCommit, decodeRebuildState } from "./script-results.ts";
import { resolveHoldSettings, type HoldSettings } from "./settings.ts";
import type { SeatMessage } from "./types.ts";

/** Seat ids per call when a seat map is installed in Redis. */
const LOAD_CHUNK = 10_000;

/** An event's box-office rules, mirrored into its Redis meta hash. */
export interface SalesRules {
  salesOpenAt?: Date | null;
  salesCloseAt?: Date | null;
  maxSeatsPerUser?: number | null;
  /** Set while an admin has frozen the event's sales: locks and orders are refused with `sales_paused`. */
  salesPausedAt?: Date | null;
}

/**
 * An event's life in Redis: its seat map and settings installed from PostgreSQL (on first use, and
 * again whenever Redis lost it), its epoch (new when Redis lost the event, restarted after a shard's
 * failover, announced on its channel), and its reserved and paid seats rebuilt from PostgreSQL, the
 * system of record. Holds and transitions are not here: they only ever live in Redis.
 */
export class EventLoader {
  private readonly loading = new Map<string, Promise<boolean>>();

  constructor(
    private readonly deps: SeatServiceDeps,
    private readonly scripts: SeatScripts,
    private readonly log: Logger,
  ) {}

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
    for (; seatIds.length - at > LOAD_CHUNK; at += LOAD_CHUNK) await this.scripts.call("loadEvent", keys, [...head, "stage", ...seatIds.slice(at, at + LOAD_CHUNK)]);
    const r = decodeLoadEventCommit(await this.scripts.call("loadEvent", keys, [...head, "commit", ...seatIds.slice(at)]));
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
    // The epoch, not the hash: every load writes one, and a meta hash without it is not a loaded event.
    if ((await this.deps.redis.hexists(this.deps.keys.event(eventId).meta, "epoch")) === 1) return true;
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
    const r = await this.scripts.call("restartEpoch", k.script, [epoch]);
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
   * Makes the event's reserved and paid seats in Redis match `live` (from PostgreSQL): the rebuild
   * after Redis lost data, or on demand. Returns how many seats changed.
   */
  async rebuildState(eventId: string, live: { seatId: string; orderId: string; userId: string; paid: boolean }[]): Promise<number> {
    const args: string[] = [];
    for (const s of live) args.push(s.seatId, `${s.paid ? "P" : "R"}|${s.orderId}|${s.userId}`);
    return decodeRebuildState(await this.scripts.run("rebuildState", eventId, args)).changes;
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
}
