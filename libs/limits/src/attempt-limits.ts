import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { dropError } from "@seatdrop/observability";
import type { Config } from "@seatdrop/config";
import { duplicateRedis, type Keys, type Redis } from "@seatdrop/redis";

/** What is being limited. Each has a per-address and (where there is one) a per-user count. */
export const ATTEMPT_KINDS = ["connect", "ticket_claim", "sign_in", "sign_up", "queue_join", "map_read"] as const;
export type AttemptKind = (typeof ATTEMPT_KINDS)[number];

/**
 * An attempt past its limit. The HTTP API answers 429 `rate_limited` with `Retry-After`; the
 * WebSocket nodes refuse the upgrade with 429 or reply `rate_limited` with `retry_after_ms`.
 */
export class RateLimitedError extends Error {
  override name = "RateLimitedError";
  readonly code = "rate_limited";
  constructor(
    readonly retryAfterMs: number,
    readonly limit: string,
  ) {
    super(`too many attempts; retry in ${Math.ceil(retryAfterMs / 1000)} s`);
  }
}

/** One count a limit keeps: its name (`<kind>:ip`, `<kind>:user`), whose, and how many it allows per window. */
export interface LimitSubject {
  name: string;
  subject: string;
  points: number;
}

/**
 * rate-limiter-flexible's own window script (RateLimiterRedis, `incrTtlLuaScript`), so counts added
 * here and by `consume` are one count: the key starts its window on the first attempt.
 */
const ADD_LUA = `redis.call('set', KEYS[1], 0, 'EX', ARGV[2], 'NX')
local consumed = redis.call('incrby', KEYS[1], ARGV[1])
local ttl = redis.call('pttl', KEYS[1])
if ttl == -1 then
  redis.call('expire', KEYS[1], ARGV[2])
  ttl = 1000 * ARGV[2]
end
return {consumed, ttl}`;

/**
 * The `.catch` of a limit's Redis call when Redis fails: the attempt is allowed (fail open, see
 * AttemptLimits), and the failure counted in `sdc_errors_dropped_total{where="limit_count"}`.
 */
function failOpen<T>(value: T): (err: unknown) => T {
  const count = dropError("limit_count");
  return (err) => {
    count(err);
    return value;
  };
}

/** The slowdown of an account's sign-ins past its failures: the first delay, and the longest. */
const SLOWDOWN_BASE_MS = 100;
const SLOWDOWN_MAX_MS = 2000;

/**
 * Cluster-wide attempt limits (docs/reliability.md, round one, findings 1, 2 and 5), counted in
 * Redis with rate-limiter-flexible (one atomic script per check), so every API process and ws-node
 * agrees on one count per address and per user. A fixed window of `LIMIT_WINDOW_S`; a limit of 0 is
 * off. The ws-nodes decide connects from memory instead, adding to the same counts in batches
 * (`addCounts`, used by SyncedLimits).
 *
 * Redis down: the attempt is allowed (`insurance` would need per-process counts that disagree
 * anyway); sign-in still costs its scrypt, the socket limits still hold per socket.
 */
export class AttemptLimits {
  private readonly limiters = new Map<string, RateLimiterRedis>();
  private readonly exempt: Set<string>;
  /**
   * A connection of its own, without auto-pipelining: rate-limiter-flexible defines its script on the
   * client it is given, and on the shared auto-pipelined connection that broke pipelines under load
   * (ioredis threw "results[i] is not iterable" from its auto-pipeline).
   */
  private readonly client: Redis;

  constructor(private readonly o: { redis: Redis; keys: Keys; config: Config }) {
    this.exempt = new Set(o.config.LIMIT_EXEMPT_IPS.map(normaliseIp));
    this.client = duplicateRedis(o.redis, { enableAutoPipelining: false, connectionName: "sdc-limits" });
    this.client.on("error", () => {}); // failures surface as allowed attempts (fail open), see consume
    // Every limiter now, before any traffic, on a connection without auto-pipelining: a limiter
    // defines its script (`defineCommand`) when it is made, and one defined while an auto-pipelined
    // batch is open is missing from that batch — ioredis then throws `results[i] is not iterable`
    // outside any promise, which ends the process (ioredis #1931; seen here under load).
    for (const kind of ATTEMPT_KINDS) {
      if (this.perIp(kind) > 0) this.limiter(`${kind}:ip`, this.perIp(kind));
      if (this.perUser(kind) > 0) this.limiter(`${kind}:user`, this.perUser(kind));
    }
    this.client.defineCommand("sdcAttemptAdd", { numberOfKeys: 1, lua: ADD_LUA });
  }

  /** The length of every limit's window, in milliseconds. */
  get windowMs(): number {
    return this.o.config.LIMIT_WINDOW_S * 1000;
  }

  /** The counts an attempt of `kind` by `who` adds to: the address's (unless exempt) and the user's, where on. */
  subjects(kind: AttemptKind, who: { ip?: string | null; user?: string | null }): LimitSubject[] {
    const out: LimitSubject[] = [];
    const ipLimit = this.perIp(kind);
    if (ipLimit > 0 && who.ip) {
      const ip = normaliseIp(who.ip);
      if (!this.exempt.has(ip)) out.push({ name: `${kind}:ip`, subject: ip, points: ipLimit });
    }
    const userLimit = this.perUser(kind);
    if (userLimit > 0 && who.user) out.push({ name: `${kind}:user`, subject: who.user, points: userLimit });
    return out;
  }

  /**
   * Adds `n` attempts to each count (the window script, one call per count, all at once) and answers
   * each count's cluster-wide total and the time left in its window; null for one Redis failed.
   */
  async addCounts(items: { name: string; subject: string; n: number }[]): Promise<({ total: number; ttlMs: number } | null)[]> {
    // Each count its own call, all in flight at once: the counts' keys span Redis Cluster slots, so
    // they cannot share a pipeline there; written back to back, they cost one round trip anyway.
    const add = this.client as unknown as { sdcAttemptAdd(key: string, n: number, windowS: number): Promise<[number, number]> };
    const failed = failOpen(null);
    return Promise.all(
      items.map((it) =>
        add.sdcAttemptAdd(`${this.o.keys.attemptLimit(it.name)}:${it.subject}`, it.n, this.o.config.LIMIT_WINDOW_S).then(
          ([total, ttl]) => ({ total: Number(total), ttlMs: Number(ttl) }),
          failed,
        ),
      ),
    );
  }

  /** Publishes on the limits' own connection (SyncedLimits tells the other nodes its totals). */
  publish(channel: string, message: string): Promise<unknown> {
    return this.client.publish(channel, message);
  }

  /** Closes the limits' own Redis connection. */
  close(): void {
    this.client.disconnect();
  }

  /** Whether any limit of `kind` applies to `who` (false: `consume` would not even ask Redis). */
  applies(kind: AttemptKind, who: { ip?: string | null; user?: string | null }): boolean {
    if (this.perIp(kind) > 0 && who.ip && !this.exempt.has(normaliseIp(who.ip))) return true;
    return this.perUser(kind) > 0 && !!who.user;
  }

  /**
   * Counts one attempt against the address's and the user's limits of `kind`; throws
   * RateLimitedError (naming the longest wait) when either is past its limit.
   */
  async consume(kind: AttemptKind, who: { ip?: string | null; user?: string | null }): Promise<void> {
    const checks = this.subjects(kind, who).map((s) => this.take(s.name, s.points, s.subject));
    const results = await Promise.allSettled(checks);
    const refused = results.flatMap((r) => (r.status === "rejected" && r.reason instanceof RateLimitedError ? [r.reason] : []));
    if (refused.length > 0) throw refused.reduce((a, b) => (b.retryAfterMs > a.retryAfterMs ? b : a));
  }

  /**
   * The slowdown of an account's sign-ins (docs/reliability.md, round two, finding 7): counts one
   * attempt against the account across every address, and answers how long this attempt must wait
   * before its password is checked: nothing up to LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT attempts in
   * the window, then 100 ms doubling per attempt, at most SLOWDOWN_MAX_MS. A delay, never a
   * refusal, so the owner still gets in.
   * Redis unavailable: no delay (fail open, as the limits do).
   */
  async signInDelayMs(account: string): Promise<number> {
    const after = this.o.config.LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT;
    if (after <= 0) return 0;
    const key = `${this.o.keys.attemptLimit("sign_in:slow")}:${account}`;
    const r = await this.client.multi().incr(key).pexpire(key, this.windowMs, "NX").exec().catch(failOpen(null));
    const n = Number(r?.[0]?.[1] ?? 0);
    if (n <= after) return 0;
    return Math.min(SLOWDOWN_MAX_MS, SLOWDOWN_BASE_MS * 2 ** Math.min(20, n - after - 1));
  }

  /** Forgets an account's slowdown count (a successful sign-in). */
  async clearSignInDelay(account: string): Promise<void> {
    // Like reset(): the count runs out with its window anyway, so a failed clear (Redis down) only
    // slows the owner's next failures; the sign-in it follows has succeeded and stands.
    await this.client.del(`${this.o.keys.attemptLimit("sign_in:slow")}:${account}`).catch(failOpen(0));
  }

  /** Forgets the user's count of `kind` (a successful sign-in clears the account's count). */
  async reset(kind: AttemptKind, user: string): Promise<void> {
    if (this.perUser(kind) <= 0) return;
    await this.limiter(`${kind}:user`, this.perUser(kind)).delete(user).catch(failOpen(false));
  }

  private async take(name: string, points: number, subject: string): Promise<void> {
    try {
      await this.limiter(name, points).consume(subject);
    } catch (err) {
      if (err instanceof RateLimiterRes) throw new RateLimitedError(Math.max(1, err.msBeforeNext), name);
      // Redis unavailable: fail open (see the class comment), counted.
      failOpen(undefined)(err);
    }
  }

  private limiter(name: string, points: number): RateLimiterRedis {
    let l = this.limiters.get(name);
    if (!l) {
      l = new RateLimiterRedis({ storeClient: this.client, keyPrefix: this.o.keys.attemptLimit(name), points, duration: this.o.config.LIMIT_WINDOW_S, useRedisPackage: false });
      this.limiters.set(name, l);
    }
    return l;
  }

  private perIp(kind: AttemptKind): number {
    const c = this.o.config;
    return { connect: c.LIMIT_CONNECTS_PER_IP, ticket_claim: c.LIMIT_TICKET_CLAIMS_PER_IP, sign_in: c.LIMIT_SIGN_INS_PER_IP, sign_up: c.LIMIT_SIGN_UPS_PER_IP, queue_join: c.LIMIT_QUEUE_JOINS_PER_IP, map_read: c.LIMIT_MAP_READS_PER_IP }[kind];
  }

  private perUser(kind: AttemptKind): number {
    const c = this.o.config;
    return { connect: c.LIMIT_CONNECTS_PER_USER, ticket_claim: c.LIMIT_TICKET_CLAIMS_PER_USER, sign_in: c.LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT, sign_up: 0, queue_join: c.LIMIT_QUEUE_JOINS_PER_USER, map_read: 0 }[kind];
  }
}

/** `::ffff:10.0.0.1` and `10.0.0.1` are one client; IPv6 is compared as written, lower-cased. */
export function normaliseIp(ip: string): string {
  const v = ip.trim().toLowerCase();
  return v.startsWith("::ffff:") && v.includes(".") ? v.slice(7) : v;
}
