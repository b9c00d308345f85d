import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { connectRedis } from "@seatdrop/redis";
import { freePort } from "./support/haproxy.ts";

/**
 * The worker started first, on a database nobody has migrated yet (as in compose, where the API may
 * come up later): it must migrate (idempotently) instead of failing on missing tables, say
 * "starting" (503) on its probes meanwhile, and then answer 200.
 */
const root = fileURLToPath(new URL("..", import.meta.url));
const baseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

describe("the worker on an empty database", () => {
  const dbName = `sdc_test_${randomBytes(5).toString("hex")}`;
  const prefix = `sdct${randomBytes(5).toString("hex")}`;
  let child: ChildProcess | undefined;
  const out: string[] = [];
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child!.once("exit", r));
      child.kill("SIGINT");
      await gone;
    }
    const a = postgres(baseUrl, { max: 1, onnotice: () => {} });
    await a.unsafe(`drop database if exists ${dbName} with (force)`);
    await a.end();
    const redis = connectRedis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
    let cursor = "0";
    do {
      const [next, found] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (found.length) await redis.unlink(...found);
    } while (cursor !== "0");
    redis.disconnect();
  }, 30_000);

  it("migrates it itself, then its /healthz and /readyz answer 200", { timeout: 120_000 }, async () => {
    const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${dbName}`);
    await admin.end();
    const url = new URL(baseUrl);
    url.pathname = `/${dbName}`;
    const port = await freePort();
    child = spawn(process.execPath, ["--import", "tsx", "apps/worker/src/main.ts"], {
      cwd: root,
      env: { ...process.env, NODE_ENV: "development", LOG_LEVEL: "warn", HOST: "127.0.0.1", DATABASE_URL: url.toString(), REDIS_PREFIX: prefix, WORKER_PORT: String(port) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const s of [child.stdout!, child.stderr!]) s.on("data", (d: Buffer) => out.push(d.toString("utf8")));
    const statuses = new Set<number>();
    const until = Date.now() + 100_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`worker exited:\n${out.join("")}`);
      const r = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
      if (r) statuses.add(r.status);
      if (r?.status === 200) break;
      if (Date.now() > until) throw new Error(`worker never became healthy:\n${out.join("")}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    expect(out.join("")).not.toContain("does not exist");
    const db = postgres(url.toString(), { max: 1, onnotice: () => {} });
    const [row] = await db`select to_regclass('public.events') is not null as migrated`;
    await db.end();
    expect(row!.migrated).toBe(true);
    // Anything it answered before 200 was "starting" (503), never a 200 while starting.
    expect([...statuses].every((s) => s === 200 || s === 503)).toBe(true);
  });
});
