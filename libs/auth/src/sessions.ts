import { and, eq, gt, sql } from "drizzle-orm";
import { revokedTokens, users, type Db } from "@seatdrop/db";
import { isUuid } from "@seatdrop/protocol";
import { dropError, type Logger } from "@seatdrop/observability";
import type { Keys, Redis } from "@seatdrop/redis";

/** How long a user's valid-after stays cached in Redis; writes replace it at once, so this only bounds memory. */
const VALID_AFTER_CACHE_S = 600;
/** Deny-list rows reloaded into Redis per batch after Redis lost them. */
const RELOAD_BATCH = 1000;
/** JWT_TTL_SECONDS's default, for a store made without `tokenLifetimeS`. */
const DEFAULT_TOKEN_LIFETIME_S = 86_400;
/** Most users one valid-after query reads (a connect storm's cache misses of one event-loop turn). */
const VALID_AFTER_BATCH = 500;

type ValidAfter = number | "gone";
type Waiter = { resolve: (v: ValidAfter) => void; reject: (err: unknown) => void };

/** What revocation needs of a token. */
export interface SessionToken {
  jti: string;
  exp: number;
  userId: string;
  /** When it was issued, in milliseconds (the token's `iat_ms`, else `iat` × 1000). */
  issuedAtMs: number;
}

/**
 * Where sessions end (docs/reliability.md, round one, findings 3 and 11). PostgreSQL is the record
 * — `revoked_tokens` (a sign-out) and `users.tokens_valid_after` (a password change; a deleted user
 * has no row) — and Redis a cache of both, so a Redis restart does not un-revoke a token: a cache
 * that Redis lost is noticed (the `deny-loaded` marker is gone) and misses are then answered from
 * PostgreSQL while the cache is filled again. Every node hears a revocation on the `revokedTokens`
 * channel and closes the sockets concerned (4401); a node whose subscriber was reconnecting
 * re-checks its sockets.
 */
export class SessionStore {
  private reloading: Promise<void> | null = null;
  /** Valid-after cache misses waiting for this turn's query, by user id. */
  private vaWaiting = new Map<string, Waiter[]>();
  private vaFlush: NodeJS.Immediate | null = null;

  /**
   * @param o.tokenLifetimeS - the longest a token lives (JWT_TTL_SECONDS; default its default): how
   *   long a deleted user's `user:<id>` row must outlive the deletion.
   */
  constructor(private readonly o: { db: Db; redis: Redis; keys: Keys; tokenLifetimeS?: number; logger?: Logger }) {}

  /** Whether the token id was signed out. */
  async isRevoked(jti: string): Promise<boolean> {
    const { redis, keys } = this.o;
    // Two reads in one round trip (the command connection auto-pipelines).
    const [denied, loaded] = await Promise.all([redis.exists(keys.deniedToken(jti)), redis.exists(keys.deniedTokensLoaded)]);
    if (denied === 1) return true;
    if (loaded === 1) return false;
    // Redis lost the cache (restart, flush): PostgreSQL answers, and the cache is refilled once. A
    // failed refill is logged and counted (the DenyListReloadFailing alert) and retried by the next
    // miss, which finds the cache still not marked loaded; each miss meanwhile asks PostgreSQL.
    void this.reloadDenyList().catch(dropError("deny_list_reload", this.o.logger));
    const [row] = await this.o.db.select({ jti: revokedTokens.jti }).from(revokedTokens).where(and(eq(revokedTokens.jti, jti), gt(revokedTokens.expiresAt, new Date()))).limit(1);
    return row !== undefined;
  }

  /**
   * The moment before which the user's tokens are refused (ms; 0 for none), or `gone` when the user
   * was deleted. Only for this cluster's own users (an identity provider's have no row).
   */
  async validAfter(userId: string): Promise<ValidAfter> {
    const key = this.o.keys.userValidAfter(userId);
    const cached = await this.o.redis.get(key);
    if (cached !== null) return cached === "gone" ? "gone" : Number(cached);
    const value = await this.readValidAfter(userId);
    // NX: a write-through of a newer value (below) that landed meanwhile is never overwritten.
    await this.o.redis.set(key, String(value), "EX", VALID_AFTER_CACHE_S, "NX");
    return value;
  }

  /**
   * A user's valid-after as PostgreSQL has it. At a drop's start nearly every connect is a cache
   * miss (a user's first connect in 10 minutes), and a query per connect cost the node two
   * PostgreSQL round trips per socket (drizzle's queries are unprepared: postgres.js asks for the
   * parameters' types first). So the misses of one event-loop turn share one query (`= any($1)`),
   * sent at the end of the turn: 5,000 connects made 106–156 queries instead of 5,000, and the
   * node's CPU per connect about halved (ARCHITECTURE.md, "The connect path, measured"). An id that is
   * not a lower-case UUID (never one this cluster issued) is read alone, as before, so it cannot
   * fail the others' query.
   */
  private readValidAfter(userId: string): Promise<ValidAfter> {
    if (!isUuid(userId)) return this.readValidAfters([userId]).then((m) => m.get(userId) ?? "gone");
    return new Promise<ValidAfter>((resolve, reject) => {
      let waiters = this.vaWaiting.get(userId);
      if (!waiters) this.vaWaiting.set(userId, (waiters = []));
      waiters.push({ resolve, reject });
      this.vaFlush ??= setImmediate(() => this.flushValidAfters());
    });
  }

  private flushValidAfters(): void {
    const waiting = this.vaWaiting;
    this.vaWaiting = new Map();
    this.vaFlush = null;
    const ids = [...waiting.keys()];
    for (let i = 0; i < ids.length; i += VALID_AFTER_BATCH) {
      const batch = ids.slice(i, i + VALID_AFTER_BATCH);
      this.readValidAfters(batch).then(
        (found) => {
          for (const id of batch) for (const w of waiting.get(id)!) w.resolve(found.get(id) ?? "gone");
        },
        (err: unknown) => {
          for (const id of batch) for (const w of waiting.get(id)!) w.reject(err);
        },
      );
    }
  }

  /** The valid-after of each of `ids` that has a row (ms; 0 for none); a user without one was deleted. */
  private async readValidAfters(ids: string[]): Promise<Map<string, number>> {
    const where = ids.length === 1 ? eq(users.id, ids[0]!) : sql`${users.id} = any(${sql.param(ids)}::uuid[])`;
    const rows = await this.o.db.select({ id: users.id, va: users.tokensValidAfter }).from(users).where(where);
    return new Map(rows.map((r) => [r.id, r.va?.getTime() ?? 0]));
  }

  /** True when the token can no longer be used: signed out, issued before the valid-after, or its user deleted. */
  async isEnded(t: Pick<SessionToken, "jti" | "userId" | "issuedAtMs">, o: { localUser: boolean }): Promise<"token_revoked" | null> {
    // The deny-list reads and the valid-after read leave in one round trip (the command connection
    // auto-pipelines what is sent in one tick): a connect used to wait for two in a row.
    const [revoked, va] = await Promise.all([this.isRevoked(t.jti), o.localUser ? this.validAfter(t.userId) : null]);
    if (revoked) return "token_revoked";
    if (va === "gone" || (va !== null && t.issuedAtMs < va)) return "token_revoked";
    return null;
  }

  /** Signs one token out: recorded in PostgreSQL, cached in Redis until it would expire, announced to every node. */
  async revoke(t: Pick<SessionToken, "jti" | "exp" | "userId">): Promise<void> {
    if (t.exp * 1000 <= Date.now()) return; // already expired: nothing left to deny
    await this.o.db
      .insert(revokedTokens)
      .values({ jti: t.jti, userId: t.userId, expiresAt: new Date(t.exp * 1000) })
      .onConflictDoNothing();
    await this.o.redis.set(this.o.keys.deniedToken(t.jti), "1", "EXAT", t.exp);
    await this.o.redis.publish(this.o.keys.revokedTokens, t.jti);
  }

  /**
   * Ends every session of a user: after a password change (`tokens_valid_after` = now, written by
   * the caller in its own transaction, passed here) or a deletion (`gone`). Updates the cache and
   * tells every node to close the user's sockets.
   *
   * A deletion leaves no users row to read, so it is recorded as a `revoked_tokens` row named
   * `user:<id>` (no token's jti has that form: ours are UUIDs, a provider's are digests) until every
   * token of the user has expired: a ws-node starting later loads it (SessionMirror).
   */
  async endAllSessions(userId: string, validAfter: Date | "gone"): Promise<void> {
    if (validAfter === "gone")
      await this.o.db
        .insert(revokedTokens)
        .values({ jti: `user:${userId}`, userId, expiresAt: new Date(Date.now() + (this.o.tokenLifetimeS ?? DEFAULT_TOKEN_LIFETIME_S) * 1000) })
        .onConflictDoNothing();
    const value = validAfter === "gone" ? "gone" : String(validAfter.getTime());
    await this.o.redis.set(this.o.keys.userValidAfter(userId), value, "EX", VALID_AFTER_CACHE_S);
    await this.o.redis.publish(this.o.keys.revokedTokens, `user:${userId}`);
  }

  /** Refills the deny-list cache from PostgreSQL (after Redis lost it), then marks it loaded. Runs once at a time. */
  reloadDenyList(): Promise<void> {
    this.reloading ??= (async () => {
      try {
        let after = "";
        for (;;) {
          const rows = await this.o.db
            .select({ jti: revokedTokens.jti, expiresAt: revokedTokens.expiresAt })
            .from(revokedTokens)
            .where(and(gt(revokedTokens.expiresAt, new Date()), gt(revokedTokens.jti, after)))
            .orderBy(revokedTokens.jti)
            .limit(RELOAD_BATCH);
          if (rows.length === 0) break;
          // One SET per token, all in flight at once (auto-pipelined): the keys span Redis Cluster
          // slots, so they cannot share a MULTI; the fill is idempotent and needs no atomicity.
          await Promise.all(rows.map((r) => this.o.redis.set(this.o.keys.deniedToken(r.jti), "1", "EXAT", Math.ceil(r.expiresAt.getTime() / 1000))));
          after = rows[rows.length - 1]!.jti;
          if (rows.length < RELOAD_BATCH) break;
        }
        await this.o.redis.set(this.o.keys.deniedTokensLoaded, "1");
        // Rows past their expiry are no longer needed by anyone.
        await this.o.db.delete(revokedTokens).where(sql`${revokedTokens.expiresAt} < now() - interval '1 day'`);
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }
}
