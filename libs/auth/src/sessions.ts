import { and, eq, gt, sql } from "drizzle-orm";
import { revokedTokens, users, type Db } from "@seatdrop/db";
import type { Keys, Redis } from "@seatdrop/redis";

/** How long a user's valid-after stays cached in Redis; writes replace it at once, so this only bounds memory. */
const VALID_AFTER_CACHE_S = 600;
/** Deny-list rows reloaded into Redis per batch after Redis lost them. */
const RELOAD_BATCH = 1000;

/** What revocation needs of a token. */
export interface SessionToken {
  jti: string;
  exp: number;
  userId: string;
  /** When it was issued, in milliseconds (the token's `iat_ms`, else `iat` × 1000). */
  issuedAtMs: number;
}

/**
 * Where sessions end (issue 8, findings 3 and 11). PostgreSQL is the record — `revoked_tokens` (a
 * sign-out) and `users.tokens_valid_after` (a password change; a deleted user has no row) — and
 * Redis a cache of both, so a Redis restart no longer un-revokes a token: a cache that Redis lost is
 * noticed (the `deny-loaded` marker is gone) and misses are then answered from PostgreSQL while the
 * cache is filled again. Every node hears a revocation on the `revokedTokens` channel and closes
 * the sockets concerned (4401); a node whose subscriber was reconnecting re-checks its sockets.
 */
export class SessionStore {
  private reloading: Promise<void> | null = null;

  constructor(private readonly o: { db: Db; redis: Redis; keys: Keys }) {}

  /** Whether the token id was signed out. */
  async isRevoked(jti: string): Promise<boolean> {
    const { redis, keys } = this.o;
    // Two reads in one round trip (the command connection auto-pipelines).
    const [denied, loaded] = await Promise.all([redis.exists(keys.deniedToken(jti)), redis.exists(keys.deniedTokensLoaded)]);
    if (denied === 1) return true;
    if (loaded === 1) return false;
    // Redis lost the cache (restart, flush): PostgreSQL answers, and the cache is refilled once.
    void this.reloadDenyList().catch(() => {});
    const [row] = await this.o.db.select({ jti: revokedTokens.jti }).from(revokedTokens).where(and(eq(revokedTokens.jti, jti), gt(revokedTokens.expiresAt, new Date()))).limit(1);
    return row !== undefined;
  }

  /**
   * The moment before which the user's tokens are refused (ms; 0 for none), or `gone` when the user
   * was deleted. Only for this cluster's own users (an identity provider's have no row).
   */
  async validAfter(userId: string): Promise<number | "gone"> {
    const key = this.o.keys.userValidAfter(userId);
    const cached = await this.o.redis.get(key);
    if (cached !== null) return cached === "gone" ? "gone" : Number(cached);
    const [row] = await this.o.db.select({ va: users.tokensValidAfter }).from(users).where(eq(users.id, userId)).limit(1);
    const value = row ? (row.va?.getTime() ?? 0) : "gone";
    // NX: a write-through of a newer value (below) that landed meanwhile is never overwritten.
    await this.o.redis.set(key, String(value), "EX", VALID_AFTER_CACHE_S, "NX");
    return value;
  }

  /** True when the token can no longer be used: signed out, issued before the valid-after, or its user deleted. */
  async isEnded(t: Pick<SessionToken, "jti" | "userId" | "issuedAtMs">, o: { localUser: boolean }): Promise<"token_revoked" | null> {
    if (await this.isRevoked(t.jti)) return "token_revoked";
    if (!o.localUser) return null;
    const va = await this.validAfter(t.userId);
    if (va === "gone" || t.issuedAtMs < va) return "token_revoked";
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
   */
  async endAllSessions(userId: string, validAfter: Date | "gone"): Promise<void> {
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
          const m = this.o.redis.multi();
          for (const r of rows) m.set(this.o.keys.deniedToken(r.jti), "1", "EXAT", Math.ceil(r.expiresAt.getTime() / 1000));
          await m.exec();
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
