import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionMirror, SessionStore } from "@seatdrop/auth";
import { revokedTokens, users } from "@seatdrop/db";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

/**
 * A ws-node's copy of the session record (SessionMirror), which lets the upgrade refuse a revoked
 * token synchronously. What it loads from PostgreSQL, what the revocation channel tells it, and
 * when it must say it cannot tell ("unknown": the caller asks the record).
 */
let env: TestEnv;
let sessions: SessionStore;
const LIFETIME_S = 3600;
beforeAll(async () => {
  env = await createTestEnv();
  sessions = new SessionStore({ db: env.db.db, redis: env.redis, keys: env.keys, tokenLifetimeS: LIFETIME_S });
});
afterAll(() => env.close());

const mirror = () => new SessionMirror({ db: env.db.db, sessions, tokenLifetimeS: LIFETIME_S });
async function user(validAfter: Date | null = null): Promise<string> {
  const id = randomUUID();
  await env.db.db.insert(users).values({ id, username: `m-${id}`, email: `${id}@mirror.test`, passwordHash: "scrypt$unused", role: "user", tokensValidAfter: validAfter });
  return id;
}
/** A token of `userId` issued `agoMs` ago, living `lifeS`. */
const tok = (userId: string, agoMs = 1000, lifeS = 600) => {
  const issuedAtMs = Date.now() - agoMs;
  return { jti: randomUUID(), userId, issuedAtMs, exp: Math.floor(issuedAtMs / 1000) + lifeS, local: true };
};

describe("session mirror", () => {
  it("loads sign-outs, valid-afters and deletions recorded before it started, in batches", async () => {
    const [signedOut, changed, plain] = [await user(), await user(new Date(Date.now() - 5000)), await user()];
    const deleted = randomUUID();
    const revokedToken = tok(signedOut);
    const rows = Array.from({ length: 2500 }, () => ({ jti: randomUUID(), userId: signedOut, expiresAt: new Date(Date.now() + 600_000) }));
    await env.db.db.insert(revokedTokens).values([...rows, { jti: revokedToken.jti, userId: signedOut, expiresAt: new Date(revokedToken.exp * 1000) }]);
    await sessions.endAllSessions(deleted, "gone");
    const m = mirror();
    expect(m.check(tok(plain))).toBe("unknown"); // before its first load it vouches for nothing
    await m.load();
    expect(m.isFresh).toBe(true);
    expect(m.check(revokedToken)).toBe("token_revoked");
    expect(m.check(tok(signedOut))).toBeNull(); // another token of the same user
    expect(m.check({ ...tok(signedOut), jti: rows[2499]!.jti })).toBe("token_revoked"); // from the third batch
    expect(m.check(tok(changed, 10_000))).toBe("token_revoked"); // issued before the password change
    expect(m.check(tok(changed, 1000))).toBeNull(); // after it
    expect(m.check(tok(deleted))).toBe("token_revoked");
    expect(m.check(tok(plain))).toBeNull();
  });

  it("learns from the channel: a jti at once, a user's sessions once the record is read", async () => {
    const m = mirror();
    await m.load();
    const id = await user();
    const [old, other] = [tok(id, 5000), tok(id, 5000)];
    m.onMessage(old.jti);
    expect(m.check(old)).toBe("token_revoked");
    expect(m.check(other)).toBeNull();
    const va = new Date(Date.now() - 2000);
    await env.db.db.update(users).set({ tokensValidAfter: va }).where(eq(users.id, id));
    await sessions.endAllSessions(id, va);
    m.onMessage(`user:${id}`);
    expect(m.check(other)).toBe("unknown"); // being read
    await expect.poll(() => m.check(other)).toBe("token_revoked");
    expect(m.check(tok(id, 100))).toBeNull();
  });

  it("answers unknown while stale (except what it knows is revoked), and for tokens it cannot vouch for", async () => {
    const m = mirror();
    await m.load();
    const id = await user();
    const t = tok(id);
    m.onMessage(t.jti);
    m.markStale();
    expect(m.check(tok(id))).toBe("unknown");
    expect(m.check(t)).toBe("token_revoked");
    await m.load();
    expect(m.check(tok(id))).toBeNull();
    expect(m.check(t)).toBe("token_revoked"); // what the channel said survives the reload
    expect(m.check({ ...tok(id), local: false })).toBe("unknown"); // an identity provider's user
    expect(m.check(tok(id, 1000, LIFETIME_S + 60))).toBe("unknown"); // lives longer than the mirror covers
    expect(m.check(tok(id, (LIFETIME_S + 60) * 1000, LIFETIME_S * 2))).toBe("unknown"); // issued before its horizon
  });

  it("PostgreSQL away at the load: the load returns (a node still starts), the mirror stays stale, and a retry makes it fresh", async () => {
    let down = true;
    const db = new Proxy(env.db.db, {
      get: (target, key, receiver) =>
        key === "select" && down
          ? () => {
              throw new Error("database down");
            }
          : Reflect.get(target, key, receiver),
    });
    const errors: string[] = [];
    const m = new SessionMirror({ db, sessions, tokenLifetimeS: LIFETIME_S, onError: (_err, what) => errors.push(what) });
    await m.load();
    expect(m.isFresh).toBe(false);
    const id = await user();
    expect(m.check(tok(id))).toBe("unknown");
    down = false;
    await expect.poll(() => m.isFresh, { timeout: 5000 }).toBe(true);
    expect(m.check(tok(id))).toBeNull();
    expect(errors[0]).toBe("session mirror load");
    m.stop();
  });
});
