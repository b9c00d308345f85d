import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { SessionStore } from "@seatdrop/auth";
import { connectDb, users } from "@seatdrop/db";
import { metrics } from "@seatdrop/observability";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(() => env.close());

/** Users with the given valid-after (null: none), written straight to PostgreSQL. */
async function makeUsers(validAfters: (Date | null)[]): Promise<string[]> {
  const rows = validAfters.map((va) => {
    const id = randomUUID();
    return { id, username: `s-${id}`, email: `${id}@sessions.test`, passwordHash: "scrypt$unused", role: "user" as const, tokensValidAfter: va };
  });
  await env.db.db.insert(users).values(rows);
  return rows.map((r) => r.id);
}

describe("session store: valid-after cache misses", () => {
  it("misses of one turn (a connect storm) each get their own user's record: a valid-after, none, or deleted", async () => {
    const sessions = new SessionStore({ db: env.db.db, redis: env.redis, keys: env.keys });
    const changedAt = new Date(Date.now() - 60_000);
    const [changed, plain, other] = await makeUsers([changedAt, null, new Date(Date.now() - 1000)]);
    const deleted = randomUUID(); // never had a row: as a deleted user
    // All in one tick, one user asked twice: every answer is its own user's.
    const ids = [changed!, plain!, deleted, other!, changed!];
    const answers = await Promise.all(ids.map((id) => sessions.validAfter(id)));
    expect(answers).toEqual([changedAt.getTime(), 0, "gone", expect.any(Number), changedAt.getTime()]);
    expect(answers[3]).not.toBe(changedAt.getTime());
    // The answers were cached, each under its own user.
    expect(await env.redis.get(env.keys.userValidAfter(changed!))).toBe(String(changedAt.getTime()));
    expect(await env.redis.get(env.keys.userValidAfter(plain!))).toBe("0");
    expect(await env.redis.get(env.keys.userValidAfter(deleted))).toBe("gone");
  });

  it("an id that is no UUID fails alone, not the misses read with it", async () => {
    const sessions = new SessionStore({ db: env.db.db, redis: env.redis, keys: env.keys });
    const [a, b] = await makeUsers([null, null]);
    const answers = await Promise.allSettled([sessions.validAfter(a!), sessions.validAfter("not-a-uuid"), sessions.validAfter(b!)]);
    expect(answers.map((x) => x.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(answers[0]).toMatchObject({ value: 0 });
    expect(answers[2]).toMatchObject({ value: 0 });
  });

  it("a token issued before its user's valid-after is ended, one after it is not, in the same turn", async () => {
    const sessions = new SessionStore({ db: env.db.db, redis: env.redis, keys: env.keys });
    const changedAt = Date.now() - 60_000;
    const [user] = await makeUsers([new Date(changedAt)]);
    const token = (issuedAtMs: number) => ({ jti: randomUUID(), userId: user!, issuedAtMs });
    const [before, after] = await Promise.all([
      sessions.isEnded(token(changedAt - 1), { localUser: true }),
      sessions.isEnded(token(changedAt + 1), { localUser: true }),
    ]);
    expect([before, after]).toEqual(["token_revoked", null]);
  });
});

describe("a failed reload of the revocation list is never swallowed", () => {
  it("is logged and counted (sdc_errors_dropped_total{where=\"deny_list_reload\"}, the DenyListReloadFailing alert), and the next miss tries again", async () => {
    // PostgreSQL unreachable (a port nothing listens on) while Redis has lost the cache.
    const dead = connectDb("postgres://postgres@127.0.0.1:1/none", { max: 1 });
    const logged: string[] = [];
    const logger = { warn: (o: object, msg: string) => void logged.push(`${msg} ${JSON.stringify({ where: (o as { where?: string }).where })}`) };
    const sessions = new SessionStore({ db: dead.db, redis: env.redis, keys: env.keys, logger: logger as never });
    await env.redis.del(env.keys.deniedTokensLoaded);
    const count = async () => (await metrics.errorsDropped.get()).values.find((v) => v.labels.where === "deny_list_reload")?.value ?? 0;
    const before = await count();
    for (let i = 0; i < 2; i++) {
      await expect(sessions.isRevoked(randomUUID())).rejects.toThrow();
      await vi.waitFor(async () => expect(await count()).toBe(before + i + 1), { timeout: 10_000, interval: 50 });
    }
    expect(logged.filter((l) => l.includes("deny_list_reload"))).toHaveLength(2);
    await dead.close();
  });
});

