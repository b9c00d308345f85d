import { z } from "zod";
import { decodeBus } from "@seatdrop/streams";
import { RateLimitedError, type AttemptKind, type AttemptLimits } from "./attempt-limits.ts";

/** One count as this process knows it. */
interface Entry {
  name: string;
  subject: string;
  /** The cluster-wide total last heard (this node's reply or another node's message), this window. */
  known: number;
  /** Attempts made here and not yet sent to Redis. */
  unsynced: number;
  /** Attempts made here whose addition to Redis is on its way. */
  inflight: number;
  /** The highest total another node announced while an addition of ours was in flight (applied with our reply). */
  seen: number;
  /** When the window ends (ms); an estimate until Redis has answered for this key (`synced`). */
  resetAt: number;
  synced: boolean;
}

/** A message on the totals channel: the sending node and `[name, subject, total, ms left in the window]`. */
const totalsMessage = z.object({ n: z.string(), t: z.array(z.tuple([z.string(), z.string(), z.number(), z.number()])) });
type TotalsMessage = z.infer<typeof totalsMessage>;

/**
 * An attempt limit decided in the process's memory, synchronously (a ws-node's upgrade must
 * complete inside uWS's upgrade handler, and `AttemptLimits.consume` is a Redis round trip),
 * against the same cluster-wide counts in Redis as `AttemptLimits` (same keys, same window script).
 *
 * Each attempt is decided from the last cluster-wide total this node heard for the count plus the
 * attempts it made since. At most every `syncMs` (at once after a quiet spell), the node adds its
 * attempts to Redis in one pipelined round trip, which answers the new totals, and publishes them on
 * `channel`; every node takes the totals it hears (the highest wins, within one window). Attempts
 * refused are counted too, as rate-limiter-flexible counts them.
 *
 * Overshoot (documented in ARCHITECTURE.md): a node hears of another node's attempts at most
 * `syncMs` plus a round trip after they were made, so within one window a subject can get its limit
 * plus what the other nodes let through during that lag; at worst (a burst reaching every node
 * within one lag) nodes × limit. A lost message (pub/sub is at-most-once) only delays what a node
 * hears until that count's next change. Each node's own attempts are always counted, so one node
 * alone never lets more than the limit through.
 *
 * Redis down: additions fail and are retried with the next batch; decisions go on from what each
 * node counts itself (fail open for the cluster-wide part, as AttemptLimits does).
 */
export class SyncedLimits {
  private entries = new Map<string, Entry>();
  private dirty = new Set<Entry>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private lastFlushAt = 0;
  private lastPruneAt = 0;
  private closed = false;

  constructor(
    private readonly o: {
      limits: AttemptLimits;
      kind: AttemptKind;
      /** This process's name in the totals messages (its own are skipped). */
      nodeId: string;
      /** The channel the totals are published on (keys.attemptTotals). */
      channel: string;
      /** The longest this node waits before sending its attempts (LIMIT_SYNC_MS). */
      syncMs: number;
      onError?: (err: unknown) => void;
    },
  ) {}

  /** Feed of the totals channel; the owner subscribes it (one subscriber connection per node). */
  onMessage(text: string): void {
    let m: TotalsMessage;
    try {
      m = decodeBus(totalsMessage, text, "attempt totals");
    } catch (err) {
      this.o.onError?.(err);
      return;
    }
    if (m.n === this.o.nodeId) return;
    const now = Date.now();
    for (const [name, subject, total, ttlMs] of m.t) {
      const e = this.entry(name, subject, now);
      if (e.inflight > 0) {
        // Our reply may or may not include the attempts behind this total: take both with it.
        if (this.sameWindow(e, now + ttlMs)) e.seen = Math.max(e.seen, total);
      } else this.heard(e, total, now + ttlMs);
    }
  }

  /**
   * Counts one attempt of `who` against each limit that applies; returns the refusal naming the
   * longest wait when one is past its limit, else null. Synchronous: no I/O.
   */
  take(who: { ip?: string | null; user?: string | null }): RateLimitedError | null {
    const subjects = this.o.limits.subjects(this.o.kind, who);
    if (subjects.length === 0) return null;
    const now = Date.now();
    let refused: RateLimitedError | null = null;
    for (const s of subjects) {
      const e = this.entry(s.name, s.subject, now);
      e.unsynced++;
      this.dirty.add(e);
      if (e.known + e.inflight + e.unsynced > s.points) {
        const wait = Math.max(1, e.resetAt - now);
        if (!refused || wait > refused.retryAfterMs) refused = new RateLimitedError(wait, s.name);
      }
    }
    this.schedule(now);
    return refused;
  }

  /** Sends the attempts not yet in Redis now (tests; and `close`). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.flushing) await this.flushing;
    if (this.dirty.size > 0) await this.send();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private entry(name: string, subject: string, now: number): Entry {
    const key = `${name}\n${subject}`;
    let e = this.entries.get(key);
    if (!e || (e.resetAt <= now && e.unsynced === 0 && e.inflight === 0)) {
      e = { name, subject, known: 0, unsynced: 0, inflight: 0, seen: 0, resetAt: now + this.o.limits.windowMs, synced: false };
      this.entries.set(key, e);
    } else if (e.resetAt <= now) {
      // The window ended with attempts of ours still unsent: they belonged to it, not to the next.
      e.known = e.unsynced = e.seen = 0;
      e.resetAt = now + this.o.limits.windowMs;
      e.synced = false;
    }
    return e;
  }

  /** Whether a window ending at `resetAt` (as Redis said) is the entry's own, within half a window. */
  private sameWindow(e: Entry, resetAt: number): boolean {
    return !e.synced || Math.abs(resetAt - e.resetAt) < this.o.limits.windowMs / 2;
  }

  /** A cluster-wide total heard for the entry's count, with the end of its window. */
  private heard(e: Entry, total: number, resetAt: number): void {
    if (!e.synced || resetAt > e.resetAt + this.o.limits.windowMs / 2) {
      // Redis's window for the count (its first, or a new one after the last ended).
      e.known = total;
      e.resetAt = resetAt;
      e.synced = true;
    } else if (resetAt < e.resetAt - this.o.limits.windowMs / 2) {
      return; // about a window already over
    } else {
      e.known = Math.max(e.known, total);
      e.resetAt = resetAt;
    }
  }

  private schedule(now: number): void {
    if (this.timer || this.flushing || this.closed) return;
    const delay = Math.max(0, this.lastFlushAt + this.o.syncMs - now);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.send();
    }, delay);
    this.timer.unref();
  }

  private send(): Promise<void> {
    const batch = [...this.dirty].map((e) => {
      const n = e.unsynced;
      e.unsynced = 0;
      e.inflight += n;
      return { e, n };
    });
    this.dirty.clear();
    this.lastFlushAt = Date.now();
    this.flushing = this.o.limits
      .addCounts(batch.map(({ e, n }) => ({ name: e.name, subject: e.subject, n })))
      .then((results) => {
        const now = Date.now();
        const totals: TotalsMessage["t"] = [];
        batch.forEach(({ e, n }, i) => {
          e.inflight -= n;
          const r = results[i];
          if (!r) {
            // Redis did not take them: still counted here, sent again with the next batch (unless
            // their window ended meanwhile: they belong to no later one).
            if (this.entries.get(`${e.name}\n${e.subject}`) === e && e.resetAt > now) {
              e.unsynced += n;
              this.dirty.add(e);
            }
            return;
          }
          const seen = e.seen;
          e.seen = 0;
          this.heard(e, Math.max(r.total, seen), now + r.ttlMs);
          totals.push([e.name, e.subject, r.total, r.ttlMs]);
        });
        if (totals.length > 0)
          this.o.limits.publish(this.o.channel, JSON.stringify({ n: this.o.nodeId, t: totals } satisfies TotalsMessage)).catch((err: unknown) => this.o.onError?.(err));
        if (now - this.lastPruneAt > 1000) this.prune(now);
      })
      .catch((err: unknown) => this.o.onError?.(err))
      .finally(() => {
        this.flushing = null;
        if (this.dirty.size > 0) this.schedule(Date.now());
      });
    return this.flushing;
  }

  /** Forgets counts whose window is over and that have nothing left to send. */
  private prune(now: number): void {
    this.lastPruneAt = now;
    for (const [key, e] of this.entries) if (e.resetAt <= now && e.unsynced === 0 && e.inflight === 0) this.entries.delete(key);
  }
}
