import type { Logger } from "@seatdrop/observability";
import { metrics } from "@seatdrop/observability";
import type { Redis } from "@seatdrop/redis";
import { naturalCompare } from "./natural-compare.ts";
import type { SeatScripts } from "./seat-scripts.ts";
import type { SeatServiceDeps } from "./seat-service.ts";
import { decodeAbandonHolds, decodeHoldRecord, decodeMarkGone, decodeReleaseHold, decodeReleaseHoldByAdmin, decodeSweepHolds } from "./script-results.ts";
import type { HoldView } from "./types.ts";

/** Holds one sweep or abandonment script looks at per call: enough to keep up, short enough not to stall Redis. */
const SWEEP_SLICE = 500;

/**
 * Everything that ends holds, in one place, for the worker and the ws-nodes alike: expiry (the
 * worker's index-driven sweep, and each node's sweep of the events it watches), abandonment (a
 * user's last socket gone for the grace, or their node dead), the liveness that tells the two apart,
 * an admin's release, and the cluster-wide index of events with holds those sweeps read. Locks,
 * unlocks and orders are the seat service's; this keeper only releases.
 */
export class HoldKeeper {
  constructor(
    private readonly deps: SeatServiceDeps,
    private readonly scripts: SeatScripts,
    private readonly log: Logger,
  ) {}

  /** Lowers the event's entry in the cluster-wide index of events with holds to `deadline` (or adds it). */
  async indexEvent(eventId: string, deadline: number): Promise<void> {
    try {
      await this.deps.redis.zadd(this.deps.keys.holdEvents, "LT", deadline, eventId);
    } catch (err) {
      // The lock stands: the worker's re-index, the nodes' sweeps and every script still enforce the deadline.
      this.log.error({ err, eventId }, "could not index the event's hold deadline");
    }
  }

  /** Releases a hold if it expired or (mode `abandoned`) its user left for longer than the grace. Idempotent. */
  async releaseHold(o: { eventId: string; userId: string; mode: "expired" | "abandoned" }) {
    const { released, reason } = decodeReleaseHold(await this.scripts.run("releaseHold", o.eventId, [o.userId, o.mode], false));
    if (released > 0) metrics.holdsExpired.inc({ path: "job", reason });
    return { released, reason };
  }

  /**
   * Releases one user's hold now, whatever its deadline (an admin, from the ops console): its owner
   * hears `deleted` with reason `released_by_admin`. Returns the seats it released (none: no hold).
   */
  async releaseHoldByAdmin(o: { eventId: string; userId: string }): Promise<{ seats: string[] }> {
    return { seats: decodeReleaseHoldByAdmin(await this.scripts.run("releaseHold", o.eventId, [o.userId, "admin"], false)).seats };
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
      const r = decodeSweepHolds(await this.scripts.run("sweepHolds", eventId, [o.limit ?? SWEEP_SLICE, o.lease?.ms ?? 0, o.lease?.owner ?? ""], false));
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
      const r = decodeAbandonHolds(await this.scripts.run("abandonHolds", eventId, [from, slice], false));
      released += r.released;
      if (r.next === 0) break;
      from = r.next;
    }
    return released;
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

  /** Node liveness for the abandoned-hold rule; see lua/markLive-19.lua. */
  async markLive(eventId: string, nodeId: string, userIds: string[], windowMs: number): Promise<void> {
    if (userIds.length === 0) return;
    await this.scripts.run("markLive", eventId, [nodeId, "live", windowMs, ...userIds], false);
  }

  /** The user's last socket for the event on this node closed: stop vouching, and check the hold after the grace. */
  async markGone(eventId: string, nodeId: string, userId: string): Promise<void> {
    const { hasHold, graceMs } = decodeMarkGone(await this.scripts.run("markLive", eventId, [nodeId, "gone", 0, userId], false));
    // One job, at most, per user who leaves: the prompt release after the grace. The worker's
    // abandonment scan is the net behind it (and the only path when a node dies without saying so).
    if (hasHold && this.deps.jobs) await this.deps.jobs.scheduleAbandonCheck({ eventId, userId }, graceMs);
  }

  /**
   * A ws-node's sweep of the events it watches, every `everyMs`, so an idle buyer's expired hold is
   * released within seconds even while the worker is down (docs/reliability.md, round one, finding
   * 15: otherwise it stays locked for everyone until the worker comes back, released on read only
   * when someone touches it). A per-event lease in Redis (sweepHolds-19.lua) lets one node do it per
   * interval; an event with nothing due costs each node one ZRANGEBYSCORE. The worker's
   * index-driven sweep (sweepDue) stays the main path: it also covers events no node watches.
   */
  startNodeSweep(o: { watchedEvents: () => Iterable<string>; nodeId: string; everyMs: number }): { stop(): void } {
    if (o.everyMs <= 0) return { stop() {} };
    const log = this.log.child({ module: "node-hold-sweep" });
    // The lease ends a little before the next tick, so the node holding it may take it again.
    const lease = { owner: o.nodeId, ms: Math.max(50, Math.floor(o.everyMs * 0.8)) };
    let running = false;
    const tick = async () => {
      if (running) return;
      running = true;
      try {
        for (const eventId of [...o.watchedEvents()]) {
          try {
            const r = await this.sweep(eventId, { lease });
            if (r.released > 0) log.info({ eventId, released: r.released }, "expired holds released by this node");
          } catch (err) {
            log.warn({ err, eventId }, "hold sweep failed");
          }
        }
      } finally {
        running = false;
      }
    };
    const timer = setInterval(() => void tick(), o.everyMs);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  /**
   * A ws-node vouches for every locally connected user, so holds of users who are still here are
   * never abandoned: each user with a socket on the node is marked live for `windowMs`
   * (WS_LIVE_WINDOW_MS), refreshed every third of it, so a failed refresh or two leave the mark
   * standing. A node that dies stops refreshing, and its users' holds are abandoned a grace after
   * the mark runs out.
   */
  startVouching(o: { liveUsers: () => Iterable<[string, string[]]>; nodeId: string; windowMs: number }): { stop(): void } {
    const timer = setInterval(() => {
      for (const [eventId, users] of o.liveUsers())
        this.markLive(eventId, o.nodeId, users, o.windowMs).catch((err: unknown) => this.log.warn({ err, eventId }, "liveness refresh failed"));
    }, o.windowMs / 3);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }
}

/** Redis's clock (the one the scripts use), in ms. */
async function redisNow(redis: Redis): Promise<number> {
  const [sec, usec] = await redis.time();
  return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
}
