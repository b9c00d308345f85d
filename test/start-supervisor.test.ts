import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { eventually } from "./support/cluster.ts";
import { freePort } from "./support/haproxy.ts";
import { createTestEnv, type TestEnv } from "./support/test-env.ts";

/**
 * `npm start` (scripts/start.ts) as a user runs it, on free ports against this file's own database
 * and Redis prefix: a ws-node that exits (SIGTERM, as when rehearsing a drain) is reported and
 * started again, while the API and the other ws-node keep answering.
 */
const root = fileURLToPath(new URL("..", import.meta.url));

describe("npm start supervises its children", () => {
  let env: TestEnv;
  let sup: ChildProcess;
  const out: string[] = [];
  const ports = { api: 0, worker: 0, ws: [0, 0] };

  beforeAll(async () => {
    env = await createTestEnv();
    ports.api = await freePort();
    ports.worker = await freePort();
    ports.ws = [await freePort(), await freePort()];
    const c = env.config;
    sup = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
      cwd: root,
      env: {
        ...process.env,
        NODE_ENV: "development",
        LOG_LEVEL: "warn",
        HOST: "127.0.0.1",
        DATABASE_URL: c.DATABASE_URL,
        REDIS_PREFIX: c.REDIS_PREFIX,
        JWT_SECRET: c.JWT_SECRET,
        SERVICE_SECRET: c.SERVICE_SECRET,
        ADMIN_PASSWORD: c.ADMIN_PASSWORD,
        PAYMENT_WEBHOOK_SECRET: c.PAYMENT_WEBHOOK_SECRET,
        API_PORT: String(ports.api),
        WORKER_PORT: String(ports.worker),
        WS_PORTS: ports.ws.join(","),
        WS_DRAIN_NOTICE_MS: "200",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const s of [sup.stdout!, sup.stderr!]) s.on("data", (d: Buffer) => out.push(...d.toString("utf8").split("\n").filter(Boolean)));
    await eventually(() => out.some((l) => l.includes("Seat drop cluster is up")) || (sup.exitCode !== null && "exited"), 120_000, "npm start to come up").then((v) => {
      if (v === "exited") throw new Error(`npm start exited:\n${out.join("\n")}`);
    });
  }, 150_000);

  afterAll(async () => {
    if (sup && sup.exitCode === null) {
      const gone = new Promise((r) => sup.once("exit", r));
      sup.kill("SIGINT");
      await gone;
    }
    await env?.close();
  }, 30_000);

  const healthy = async (port: number) => {
    try {
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
    } catch {
      return false;
    }
  };
  const pidOf = (name: string): number[] =>
    out.flatMap((l) => {
      const m = new RegExp(`npm start: ${name} started \\(pid (\\d+)\\)`).exec(l);
      return m ? [Number(m[1])] : [];
    });

  it("restarts a ws-node that exits, and the others keep running", { timeout: 90_000 }, async () => {
    const [first] = pidOf("ws-node-1");
    expect(first, out.join("\n")).toBeGreaterThan(0);
    process.kill(first!, "SIGTERM");
    await eventually(() => out.some((l) => /ws-node-1 exited \(code 0\); restarting it in 1 s/.test(l)), 30_000, `the exit to be reported:\n${out.join("\n")}`);
    // The rest of the cluster is still up while ws-node-1 is gone.
    expect(await healthy(ports.api)).toBe(true);
    expect(await healthy(ports.worker)).toBe(true);
    expect(await healthy(ports.ws[1]!)).toBe(true);
    expect(sup.exitCode).toBeNull();
    // A new ws-node-1 process, answering on the same port.
    await eventually(() => pidOf("ws-node-1").length === 2, 30_000, "ws-node-1 to be started again");
    expect(pidOf("ws-node-1")[1]).not.toBe(first);
    await vi.waitFor(
      async () => {
        if (!(await healthy(ports.ws[0]!))) throw new Error(`ws-node-1 did not come back:\n${out.join("\n")}`);
      },
      { timeout: 60_000, interval: 200 },
    );
    expect(pidOf("ws-node-2")).toHaveLength(1);
    expect(pidOf("api")).toHaveLength(1);
  });
});
