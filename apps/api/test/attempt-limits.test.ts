import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "@seatdrop/auth";
import { users } from "@seatdrop/db";
import { createLogger } from "@seatdrop/observability";
import { buildApp, type ApiApp } from "../src/app.ts";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

/**
 * docs/reliability.md, round one, finding 5: no limit on sign-in or sign-up (12 parallel wrong
 * passwords: all 401, none 429, and a real sign-in beside them slowed by their scrypt). Limits are
 * counted in Redis per address and per (account, address), checked before any password is hashed;
 * an account's failures from every address only slow its sign-ins (docs/reliability.md, round two,
 * finding 7: otherwise a stranger could lock the owner out).
 */

let env: TestEnv;
let app: ApiApp;
beforeAll(async () => {
  env = await createTestEnv({ LIMIT_SIGN_INS_PER_IP: "20", LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT: "5", LIMIT_SIGN_UPS_PER_IP: "3" });
  app = buildApp({ config: env.config, db: env.db, redis: env.redis, keys: env.keys, logger: createLogger("limits-test", "silent") });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await env.close();
});

const signUp = (n: string, ip: string) =>
  app.inject({ method: "POST", url: "/api/users/create", remoteAddress: ip, payload: { user_params: { username: n, email: `${n}@example.com`, password_hash: "right password" } } });
const signIn = (email: string, password: string, ip: string) => app.inject({ method: "POST", url: "/api/users/sign_in", remoteAddress: ip, payload: { email, password_hash: password } });

describe("sign-in and sign-up limits", () => {
  it("sign-ups per address: past the limit 429 rate_limited with Retry-After; another address and loopback still sign up", async () => {
    for (let i = 0; i < 3; i++) expect((await signUp(`su${i}`, "203.0.113.10")).statusCode).toBe(201);
    const refused = await signUp("su3", "203.0.113.10");
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
    expect(refused.json()).toMatchObject({ error: "rate_limited", retry_after_ms: expect.any(Number) });
    expect((await signUp("su4", "203.0.113.11")).statusCode).toBe(201);
    for (let i = 0; i < 4; i++) expect((await signUp(`local${i}`, "127.0.0.1")).statusCode).toBe(201); // LIMIT_EXEMPT_IPS
  });

  it("failures lock out the address they come from, not the account: a stranger is refused, the owner from their own address gets in", async () => {
    expect((await signUp("victim", "203.0.113.20")).statusCode).toBe(201);
    // 12 parallel wrong passwords from one stranger's address: 5 are checked, 7 refused 429 without a hash.
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => signIn("victim@example.com", `wrong ${i}`, "203.0.113.30")));
    const codes = answers.map((a) => a.statusCode).sort();
    expect(codes.filter((c) => c === 401)).toHaveLength(5);
    expect(codes.filter((c) => c === 429)).toHaveLength(7);
    expect((await signIn("victim@example.com", "right password", "203.0.113.30")).statusCode).toBe(429);
    // The owner, from their own address: in (docs/reliability.md, round two, finding 7: failures
    // from a stranger's address must not lock the owner out).
    expect((await signIn("victim@example.com", "right password", "203.0.113.99")).statusCode).toBe(200);
  });

  it("failures from many addresses slow the account's sign-ins down instead of locking it: every attempt is checked, and the owner gets in", async () => {
    expect((await signUp("spread", "203.0.113.22")).statusCode).toBe(201);
    // 12 wrong passwords, each from its own address: none reaches a per-(account, address) limit.
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => signIn("spread@example.com", `wrong ${i}`, `203.0.113.${130 + i}`)));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(12).fill(401));
    // Past LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT (5) the account's attempts wait (at most 2 s each), and are never refused.
    const slowKey = `${env.keys.attemptLimit("sign_in:slow")}:spread@example.com`;
    expect(Number(await env.redis.get(slowKey))).toBe(12);
    expect((await signIn("spread@example.com", "right password", "203.0.113.150")).statusCode).toBe(200);
    expect(await env.redis.exists(slowKey)).toBe(0); // the owner's success clears the slowdown
  });

  it("a refused attempt never reaches the password check: the right password refused 429 leaves a hash that any verified sign-in upgrades untouched", async () => {
    // Both accounts store a hash of the right password with weaker parameters than today's: a
    // sign-in whose password is verified upgrades it (needsRehash), so the stored hash shows
    // whether an attempt got as far as the scrypt verify, without timing anything.
    const weak = await hashPassword("right password", { N: 2 ** 10, r: 8, p: 1 });
    const costOf = async (id: string) => Number((await env.db.db.select({ h: users.passwordHash }).from(users).where(eq(users.id, id)))[0]!.h.split("$")[1]);
    const [witness, guarded] = await Promise.all(
      ["rehash_witness", "rehash_guarded"].map(async (n, i) => {
        const res = await signUp(n, `203.0.113.${60 + i}`);
        expect(res.statusCode).toBe(201);
        const id = (res.json() as { user: { id: string } }).user.id;
        await env.db.db.update(users).set({ passwordHash: weak }).where(eq(users.id, id));
        return id;
      }),
    );
    // The witness: one verified sign-in with the right password upgrades the hash.
    expect((await signIn("rehash_witness@example.com", "right password", "203.0.113.62")).statusCode).toBe(200);
    const upgradedTo = await costOf(witness!);
    expect(upgradedTo).toBeGreaterThan(2 ** 10);
    // The guarded account: 5 failures from one address fill that address's count for it; then the
    // right password from that address is refused.
    for (let i = 0; i < 5; i++) expect((await signIn("rehash_guarded@example.com", `wrong ${i}`, "203.0.113.63")).statusCode).toBe(401);
    const refused = await signIn("rehash_guarded@example.com", "right password", "203.0.113.63");
    expect(refused.statusCode).toBe(429);
    const guardedCost = await costOf(guarded!);
    expect(guardedCost).toBe(2 ** 10); // never verified: the hash it would have upgraded is as it was
    console.log(
      `sign-in limit before the password check: the right password after 5 failures from the same address refused ${refused.statusCode}, stored hash still N=${guardedCost}; the same hash on another account, signed in 200, upgraded to N=${upgradedTo}`,
    );
  });

  it("a successful sign-in clears the account's count: only failures in a row accumulate", async () => {
    expect((await signUp("forgetful", "203.0.113.50")).statusCode).toBe(201);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) expect((await signIn("forgetful@example.com", "wrong", "203.0.113.51")).statusCode).toBe(401);
      expect((await signIn("forgetful@example.com", "right password", "203.0.113.51")).statusCode).toBe(200);
    }
  });

  it("sign-ins per address, whatever the account", async () => {
    const ip = "203.0.113.77";
    const answers = [];
    for (let i = 0; i < 21; i++) answers.push((await signIn(`nobody${i}@example.com`, "x", ip)).statusCode);
    expect(answers.slice(0, 20).every((c) => c === 401)).toBe(true);
    expect(answers[20]).toBe(429);
  });
});
