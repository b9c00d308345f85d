import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "./support/cluster.ts";
import { freePort } from "./support/haproxy.ts";
import { createTestEnv } from "./support/test-env.ts";

/**
 * `npm start` where Redis and PostgreSQL are installed but not running (here: pointed at free ports
 * of this machine): it runs private ones in a data folder, says so, comes up, and leaves nothing
 * running when stopped. Without a redis-server binary it says the one install command instead;
 * with SDC_PRIVATE_SERVERS=0 it refuses as before. (scripts/private-servers.ts)
 */
const root = fileURLToPath(new URL("..", import.meta.url));
const hasRedisServer = spawnSync("redis-server", ["--version"]).status === 0;
const hasPostgres = existsSync("/usr/lib/postgresql") || spawnSync("initdb", ["--version"]).status === 0;
if (!hasRedisServer || !hasPostgres) console.warn("private-servers.test.ts: the full start SKIPPED (needs redis-server and PostgreSQL's server binaries)");
const tmp = mkdtempSync(path.join(tmpdir(), "sdc-private-"));
chmodSync(tmp, 0o755); // as root, the private PostgreSQL runs as the postgres user, which must reach its data folder
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: "127.0.0.1", port });
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

/** `npm start` (the script itself, as npm runs it) with `env` over this file's secrets and free app ports. */
async function start(env: Record<string, string>): Promise<{ proc: ChildProcess; out: string[]; api: number }> {
  const t = await createTestEnv();
  const c = t.config;
  await t.close();
  const [api, worker, ws] = [await freePort(), await freePort(), await freePort()];
  const { METRICS_TOKEN: _m, REDIS_URL: _r, DATABASE_URL: _d, ...inherited } = process.env;
  const proc = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
    cwd: root,
    env: {
      ...inherited,
      NODE_ENV: "development",
      HOST: "127.0.0.1",
      SDC_DEV_ENV_FILE: path.join(tmp, `dev-${api}.env`),
      REDIS_PREFIX: c.REDIS_PREFIX,
      JWT_SECRET: c.JWT_SECRET,
      SERVICE_SECRET: c.SERVICE_SECRET,
      ADMIN_PASSWORD: c.ADMIN_PASSWORD,
      PAYMENT_WEBHOOK_SECRET: c.PAYMENT_WEBHOOK_SECRET,
      API_PORT: String(api),
      WORKER_PORT: String(worker),
      WS_PORTS: String(ws),
      WS_DRAIN_NOTICE_MS: "200",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out: string[] = [];
  for (const s of [proc.stdout!, proc.stderr!]) s.on("data", (d: Buffer) => out.push(...d.toString("utf8").split("\n").filter(Boolean)));
  return { proc, out, api };
}
const exited = (proc: ChildProcess) => new Promise<number | null>((r) => (proc.exitCode !== null ? r(proc.exitCode) : proc.once("exit", (code) => r(code))));

describe.skipIf(!hasRedisServer || !hasPostgres)("npm start with Redis and PostgreSQL installed but not running", () => {
  it("runs private ones in the data folder, says so, serves, and stops them when it stops", { timeout: 150_000 }, async () => {
    const [redisPort, pgPort] = [await freePort(), await freePort()];
    const data = mkdtempSync(path.join(tmp, "data-"));
    const { proc, out, api } = await start({ REDIS_URL: `redis://127.0.0.1:${redisPort}`, DATABASE_URL: `postgres://postgres@127.0.0.1:${pgPort}/sdc_private`, SDC_DEV_DATA: data });
    try {
      const up = await eventually(() => out.some((l) => l.includes("Seat drop cluster is up")) || (proc.exitCode !== null && "exited"), 120_000, "npm start to come up");
      expect(up, out.join("\n")).toBe(true);
      expect(out.join("\n")).toContain(`Redis did not answer at redis://127.0.0.1:${redisPort}; started a private redis-server there for development (data in ${data}/redis`);
      expect(out.join("\n")).toContain(`PostgreSQL did not answer at port ${pgPort}; started a private PostgreSQL there for development (data in ${data}/postgres`);
      expect(out.some((l) => /private\s+redis-server and postgres started for this run/.test(l))).toBe(true);
      // The API answers from the private PostgreSQL (migrated) and Redis.
      expect((await fetch(`http://127.0.0.1:${api}/readyz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${api}/api/events`)).status).toBe(200);
      expect(existsSync(path.join(data, "postgres", "PG_VERSION"))).toBe(true);
    } finally {
      proc.kill("SIGINT");
      await exited(proc);
    }
    // Nothing left listening on either port.
    expect(await portOpen(redisPort)).toBe(false);
    expect(await portOpen(pgPort)).toBe(false);
  });
});

describe("npm start when Redis does not answer and no private one can run", () => {
  it("without a redis-server binary: says the one command that installs it, and starts nothing", { timeout: 60_000 }, async () => {
    const redisPort = await freePort();
    // A PATH with node only: no redis-server to find.
    const bin = mkdtempSync(path.join(tmp, "bin-"));
    symlinkSync(process.execPath, path.join(bin, "node"));
    const { proc, out } = await start({ PATH: bin, REDIS_URL: `redis://127.0.0.1:${redisPort}`, SDC_DEV_DATA: path.join(tmp, "unused") });
    expect(await exited(proc)).not.toBe(0);
    const text = out.join("\n");
    expect(text).toContain(`Redis is not reachable at redis://127.0.0.1:${redisPort}`);
    expect(text).toContain("there is no redis-server on this machine to run a private one: sudo apt-get install -y redis-server postgresql");
    expect(text).not.toContain("Seat drop cluster is up");
    expect(existsSync(path.join(tmp, "unused"))).toBe(false);
  });

  it("with SDC_PRIVATE_SERVERS=0: refuses as before, naming the store", { timeout: 60_000 }, async () => {
    const redisPort = await freePort();
    const { proc, out } = await start({ SDC_PRIVATE_SERVERS: "0", REDIS_URL: `redis://127.0.0.1:${redisPort}`, SDC_DEV_DATA: path.join(tmp, "off") });
    expect(await exited(proc)).not.toBe(0);
    expect(out.join("\n")).toContain(`Redis is not reachable at redis://127.0.0.1:${redisPort}`);
    expect(out.join("\n")).not.toContain("private");
    expect(await portOpen(redisPort)).toBe(false);
  });
});
