import { and, asc, gt } from "drizzle-orm";
import { revokedTokens, users, type Db } from "@seatdrop/db";
import type { SessionStore, SessionToken } from "./sessions.ts";

/**
 * How long past its `exp` a token may still be accepted (the verifiers' 5 s clock tolerance), with
 * margin: what the mirror knows of a token is kept that much longer.
 */
const EXPIRY_SLACK_MS = 10_000;
/** Rows read per query when (re)loading. */
const LOAD_BATCH = 1000;
/** How often entries that can no longer refuse an unexpired token are dropped. */
const PRUNE_EVERY_MS = 60_000;
/** Backoff of a failed (re)load or valid-after read. */
const RETRY_MS = [250, 1000, 5000];

/** What the mirror can say about a token: ended, not ended, or that only the record can tell. */
export type MirrorAnswer = "token_revoked" | "unknown" | null;

type Ended = { va: number | "gone"; until: number };

/**
 * A ws-node's copy, in memory, of what `SessionStore.isEnded` decides, so the upgrade
 * can refuse a revoked token synchronously, inside uWS's upgrade handler: the signed-out token ids
 * (`revoked_tokens`), each user's valid-after (`users.tokens_valid_after`, a password change) and
 * the deleted users (their `user:<id>` row in `revoked_tokens`, see `SessionStore.endAllSessions`).
 *
 * Only what can still refuse a token is kept: a token lives at most `tokenLifetimeS`
 * (JWT_TTL_SECONDS, what the signer gives every token), so `load` reads the revocations of tokens
 * not yet expired and the valid-afters of the last `tokenLifetimeS`, in batches, and entries are
 * dropped once every token they could refuse has expired. A token the mirror cannot vouch for (an
 * identity provider's, one living longer than that, one issued before the loaded horizon, one whose
 * user's record is being read, or any while the mirror is stale) gets `unknown`: the caller asks
 * the record (`SessionStore.isEnded`).
 *
 * Kept current by the `revokedTokens` channel (a jti, or `user:<id>` after which the user's
 * valid-after is read from the record: the message form is unchanged, so nodes of the previous
 * version still understand every message). Pub/sub is at-most-once, and what is lost is lost while
 * the subscriber connection is down: the owner calls `markStale` when it drops (every answer is
 * then `unknown` except a known revocation) and `load` when it is back.
 */
export class SessionMirror {
  private revoked = new Map<string, number>();
  private ended = new Map<string, Ended>();
  /** Users whose valid-after is being read after a `user:<id>` message, with the number of reads. */
  private pending = new Map<string, number>();
  /** Tokens issued before this moment may have a valid-after the load did not read. */
  private horizonMs = Number.POSITIVE_INFINITY;
  private fresh = false;
  /** Bumped by `markStale`: a load that began before it leaves the mirror stale. */
  private epoch = 0;
  private loading: Promise<void> | null = null;
  private loadingEpoch = -1;
  private reloadTimer: NodeJS.Timeout | null = null;
  private failedLoads = 0;
  private pruneTimer: NodeJS.Timeout | null = null;
  private readonly lifetimeMs: number;
  private stopped = false;

  constructor(
    private readonly o: {
      db: Db;
      sessions: Pick<SessionStore, "validAfter">;
      /** The longest a token of this cluster lives (JWT_TTL_SECONDS). */
      tokenLifetimeS: number;
      onError?: (err: unknown, what: string) => void;
    },
  ) {
    this.lifetimeMs = o.tokenLifetimeS * 1000;
  }

  /**
   * Whether the token's session ended, from memory. Positive answers hold even while the mirror is
   * stale (a revocation is never undone); a negative one only while it is fresh.
   */
  check(t: Pick<SessionToken, "jti" | "userId" | "issuedAtMs" | "exp"> & { local: boolean }): MirrorAnswer {
    if (!t.local) return "unknown"; // an identity provider's user: no row here, the record decides
    if (this.revoked.has(t.jti)) return "token_revoked";
    const e = this.ended.get(t.userId);
    if (e && (e.va === "gone" || t.issuedAtMs < e.va)) return "token_revoked";
    if (!this.fresh || this.pending.has(t.userId)) return "unknown";
    if (t.issuedAtMs < this.horizonMs || t.exp * 1000 - t.issuedAtMs > this.lifetimeMs) return "unknown";
    return null;
  }

  /** A message of the `revokedTokens` channel: a jti, or `user:<id>` (every session of the user ended). */
  onMessage(message: string): void {
    if (message.startsWith("user:")) this.readUser(message.slice(5));
    else this.revoked.set(message, Date.now() + this.lifetimeMs + EXPIRY_SLACK_MS);
  }

  /** What the record said of a token the mirror had let through (the socket's re-check after open). */
  learnEnded(t: Pick<SessionToken, "jti" | "exp">): void {
    this.revoked.set(t.jti, t.exp * 1000 + EXPIRY_SLACK_MS);
  }

  /** The subscriber connection dropped: messages may be lost until the next `load`. */
  markStale(): void {
    this.fresh = false;
    this.epoch++;
  }

  get isFresh(): boolean {
    return this.fresh;
  }

  /** Starts the pruning; the first load is the caller's (`load`). */
  start(): void {
    this.pruneTimer = setInterval(() => this.prune(), PRUNE_EVERY_MS);
    this.pruneTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.pruneTimer = this.reloadTimer = null;
  }

  /**
   * Reads every revocation that can still refuse a token from PostgreSQL, in batches, and marks the
   * mirror fresh (unless the subscriber dropped meanwhile). What the channel said during the load is
   * kept. Resolves after one attempt: a failure is retried in the background with backoff, and the
   * mirror stays stale (every upgrade asks the record) until one succeeds, so a node still starts
   * while PostgreSQL is away.
   */
  load(): Promise<void> {
    // A load that began before the latest `markStale` cannot make the mirror fresh: another follows it.
    if (this.loading && this.loadingEpoch === this.epoch) return this.loading;
    this.loadingEpoch = this.epoch;
    const p: Promise<void> = (this.loading ?? Promise.resolve()).then(() => this.loadOnce());
    this.loading = p;
    void p.finally(() => {
      if (this.loading === p) this.loading = null;
    });
    return p;
  }

  private async loadOnce(): Promise<void> {
    const epoch = this.epoch;
    const startedAt = Date.now();
    try {
      const revoked = new Map<string, number>();
      const ended = new Map<string, Ended>();
      const notBefore = new Date(startedAt - EXPIRY_SLACK_MS);
      for (let after = ""; ; ) {
        const rows = await this.o.db
          .select({ jti: revokedTokens.jti, expiresAt: revokedTokens.expiresAt })
          .from(revokedTokens)
          .where(and(gt(revokedTokens.expiresAt, notBefore), gt(revokedTokens.jti, after)))
          .orderBy(asc(revokedTokens.jti))
          .limit(LOAD_BATCH);
        for (const r of rows) {
          const until = r.expiresAt.getTime() + EXPIRY_SLACK_MS;
          if (r.jti.startsWith("user:")) ended.set(r.jti.slice(5), { va: "gone", until });
          else revoked.set(r.jti, until);
        }
        if (rows.length < LOAD_BATCH) break;
        after = rows[rows.length - 1]!.jti;
      }
      // A valid-after older than the longest token life refuses no unexpired token.
      const since = new Date(startedAt - this.lifetimeMs - EXPIRY_SLACK_MS);
      for (let after: string | null = null; ; ) {
        const where = after === null ? gt(users.tokensValidAfter, since) : and(gt(users.tokensValidAfter, since), gt(users.id, after));
        const rows: { id: string; va: Date | null }[] = await this.o.db.select({ id: users.id, va: users.tokensValidAfter }).from(users).where(where).orderBy(asc(users.id)).limit(LOAD_BATCH);
        for (const r of rows) if (r.va) ended.set(r.id, { va: r.va.getTime(), until: r.va.getTime() + this.lifetimeMs + EXPIRY_SLACK_MS });
        if (rows.length < LOAD_BATCH) break;
        after = rows[rows.length - 1]!.id;
      }
      // What the channel taught meanwhile stays: revocations only ever add up.
      for (const [jti, until] of this.revoked) if (until > (revoked.get(jti) ?? 0)) revoked.set(jti, until);
      for (const [id, e] of this.ended) ended.set(id, merge(ended.get(id), e));
      this.revoked = revoked;
      this.ended = ended;
      // The load read every valid-after since `since`: those of tokens issued from here on.
      this.horizonMs = startedAt - this.lifetimeMs;
      if (epoch === this.epoch) this.fresh = true;
      this.failedLoads = 0;
    } catch (err) {
      this.o.onError?.(err, "session mirror load");
      if (this.stopped || this.reloadTimer) return;
      this.reloadTimer = setTimeout(() => {
        this.reloadTimer = null;
        if (!this.stopped) void this.load();
      }, RETRY_MS[Math.min(this.failedLoads++, RETRY_MS.length - 1)]);
      this.reloadTimer.unref();
    }
  }

  /** After `user:<id>`: the user's valid-after (or deletion) from the record; unknown for them until read. */
  private readUser(userId: string, attempt = 0): void {
    this.pending.set(userId, (this.pending.get(userId) ?? 0) + 1);
    const done = () => {
      const n = (this.pending.get(userId) ?? 1) - 1;
      if (n > 0) this.pending.set(userId, n);
      else this.pending.delete(userId);
    };
    this.o.sessions.validAfter(userId).then(
      (va) => {
        const now = Date.now();
        if (va === "gone") this.ended.set(userId, merge(this.ended.get(userId), { va, until: now + this.lifetimeMs + EXPIRY_SLACK_MS }));
        else if (va > 0) this.ended.set(userId, merge(this.ended.get(userId), { va, until: va + this.lifetimeMs + EXPIRY_SLACK_MS }));
        done();
      },
      (err: unknown) => {
        this.o.onError?.(err, "session mirror valid-after read");
        // Still unknown for this user (the record answers their connects) until a read succeeds.
        setTimeout(() => {
          done();
          if (!this.stopped) this.readUser(userId, attempt + 1);
        }, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]).unref();
      },
    );
  }

  private prune(now = Date.now()): void {
    for (const [jti, until] of this.revoked) if (until < now) this.revoked.delete(jti);
    for (const [id, e] of this.ended) if (e.until < now) this.ended.delete(id);
  }
}

/** The stricter of two answers for one user: deleted beats a valid-after, a later valid-after an earlier one. */
function merge(a: Ended | undefined, b: Ended): Ended {
  if (!a) return b;
  const va = a.va === "gone" || b.va === "gone" ? "gone" : Math.max(a.va, b.va);
  return { va, until: Math.max(a.until, b.until) };
}
