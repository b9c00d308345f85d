import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { createTokenVerifier } from "@seatdrop/auth";
import { tickets, users } from "@seatdrop/db";
import { createEvent, seatIdsGrid } from "./support/cluster.ts";
import { createTestEnv, type TestEnv } from "./support/test-env.ts";

/**
 * `npm run k6:tokens`: the k6 scripts' users, made past the API's per-address sign-up limit, with
 * tokens the cluster accepts and (with --tickets) a ticket each for the event's chat room.
 */
const root = fileURLToPath(new URL("..", import.meta.url));
let env: TestEnv;
let dir: string;

beforeAll(async () => {
  env = await createTestEnv();
  dir = mkdtempSync(join(tmpdir(), "k6-tokens-"));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await env?.close();
});

const run = (args: string[], extra: Record<string, string> = {}) =>
  spawnSync(process.execPath, ["--import", "tsx", `${root}scripts/k6-tokens.ts`, ...args], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, NODE_ENV: "test", DATABASE_URL: env.config.DATABASE_URL, JWT_SECRET: env.config.JWT_SECRET, ...extra },
  });

describe("npm run k6:tokens", () => {
  it("writes one token per user, each accepted by the cluster's verifier, and gives each a ticket for the event", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 4));
    const out = join(dir, "tokens.txt");
    const r = run(["--count", "12", "--event", eventId, "--tickets", "--out", out]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    // More than LIMIT_SIGN_UPS_PER_IP (10) would allow through the API from one address.
    const tokens = readFileSync(out, "utf8").trim().split("\n");
    expect(tokens).toHaveLength(12);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const verifier = createTokenVerifier(env.config);
    const ids = await Promise.all(tokens.map(async (t) => (await verifier.verify(t)).userId));
    expect(new Set(ids).size).toBe(12);
    for (const id of ids) {
      expect(await env.db.db.select({ id: users.id }).from(users).where(eq(users.id, id))).toHaveLength(1);
      const held = await env.db.db.select({ eventId: tickets.eventId }).from(tickets).where(eq(tickets.userId, id));
      expect(held).toEqual([{ eventId }]);
    }
  }, 60_000);

  it("refuses bad arguments and a missing secret, naming what is wrong, and writes nothing", () => {
    const out = join(dir, "none.txt");
    expect(run(["--count", "ten", "--out", out])).toMatchObject({ status: 2, stderr: expect.stringContaining("--count must be a whole number") });
    expect(run(["--tickets", "--out", out])).toMatchObject({ status: 2, stderr: expect.stringContaining("--tickets needs --event") });
    expect(run(["--out", out], { JWT_SECRET: "" })).toMatchObject({ status: 2, stderr: expect.stringContaining("set JWT_SECRET") });
    expect(() => statSync(out)).toThrow();
  });
});
