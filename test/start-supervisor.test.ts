import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readlinkSync, rmSync, statSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadDevEnv } from "../scripts/dev-env.ts";
import { eventually } from "./support/cluster.ts";
import { freePort } from "./support/haproxy.ts";
import { createTestEnv, type TestEnv } from "./support/test-env.ts";

/**
 * `npm start` as a user runs it (through npm, so with npm's own process on top), on free ports
 * against this file's own database and Redis prefix: a ws-node that exits (SIGTERM, as when
 * rehearsing a drain) is reported and started again, while the API and the other ws-node keep
 * answering; the demos find this run's secrets in the file it writes; SIGTERM to npm's pid (what `$!`
 * gives) drains the ws-nodes and leaves no process behind, and so does a parent that dies without
 * passing a signal on, or the supervisor itself killed outright. And with one of its ports taken it
 * refuses to start, naming the port and its variable, before it writes anything.
 */
const root = fileURLToPath(new URL("..", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "sdc-start-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `pid` and every process below it, from `ps`. */
function processTree(pid: number): number[] {
  const rows = execFileSync("ps", ["-eo", "pid=,ppid="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [p, pp] of rows) if (pp === tree[i]) tree.push(p);
  return tree;
}
/** Only a process still running in this checkout is killed by the clean-up (never a reused pid). */
const ours = (pid: number) => {
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === root.replace(/\/$/, "");
  } catch {
    return false;
  }
};
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: "127.0.0.1", port });
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

interface Started {
  env: TestEnv;
  proc: ChildProcess;
  out: string[];
  ports: { api: number; worker: number; ws: number[] };
  devEnvFile: string;
  /** Every process seen under it, so the clean-up finds them even once their parent is gone. */
  seen: Set<number>;
}

/** Runs `command` (a layout of processes with start.ts at the bottom) and waits for its banner. */
async function startCluster(command: string, args: string[], devEnvName: string): Promise<Started> {
  const env = await createTestEnv();
  const ports = { api: await freePort(), worker: await freePort(), ws: [await freePort(), await freePort()] };
  const devEnvFile = join(tmp, devEnvName);
  const c = env.config;
  // No METRICS_TOKEN from outside: npm start generates one for the run and prints it.
  const { METRICS_TOKEN: _outside, ...inherited } = process.env;
  const proc = spawn(command, args, {
    cwd: root,
    env: {
      ...inherited,
      NODE_ENV: "development",
      LOG_LEVEL: "info", // the ws-nodes' drain line
      SDC_DEV_ENV_FILE: devEnvFile,
      HOST: "127.0.0.1",
      DATABASE_URL: c.DATABASE_URL,
      REDIS_PREFIX: c.REDIS_PREFIX,
      JWT_SECRET: c.JWT_SECRET,
      SERVICE_SECRET: c.SERVICE_SECRET,
      ADMIN_EMAIL: c.ADMIN_EMAIL,
      ADMIN_PASSWORD: c.ADMIN_PASSWORD,
      PAYMENT_WEBHOOK_SECRET: c.PAYMENT_WEBHOOK_SECRET,
      API_PORT: String(ports.api),
      WORKER_PORT: String(ports.worker),
      WS_PORTS: ports.ws.join(","),
      WS_DRAIN_NOTICE_MS: "200",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out: string[] = [];
  for (const stream of [proc.stdout!, proc.stderr!]) {
    let partial = ""; // a chunk may end inside a line
    stream.on("data", (d: Buffer) => {
      const lines = (partial + d.toString("utf8")).split("\n");
      partial = lines.pop()!;
      out.push(...lines.filter(Boolean));
    });
  }
  const started = { env, proc, out, ports, devEnvFile, seen: new Set<number>() };
  await eventually(() => out.some((l) => l.includes("Seat drop cluster is up")) || (proc.exitCode !== null && "exited"), 120_000, "npm start to come up").then(async (v) => {
    if (v === "exited") {
      await stopCluster(started);
      throw new Error(`npm start exited:\n${out.join("\n")}`);
    }
  });
  for (const pid of processTree(proc.pid!)) started.seen.add(pid);
  return started;
}

/** Whatever a test left running: SIGINT to the top, then SIGKILL to anything of the tree left. */
async function stopCluster(s: Started | undefined): Promise<void> {
  if (!s) return;
  const printed = s.out.flatMap((l) => /npm start: \S+ started \(pid (\d+)\)/.exec(l)?.[1] ?? []).map(Number);
  const left = new Set([...s.seen, ...printed, ...(s.proc.pid ? processTree(s.proc.pid) : [])]);
  if (s.proc.exitCode === null && s.proc.signalCode === null) {
    const gone = new Promise((r) => s.proc.once("exit", r));
    s.proc.kill("SIGINT");
    await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
  }
  for (const pid of left) if (alive(pid) && ours(pid)) process.kill(pid, "SIGKILL");
  await s.env.close();
}

/** Waits until every process of `tree` is gone, then checks the ws-nodes drained and every port is closed. */
async function expectDrainedAndGone(s: Started, tree: number[], from: number, devEnvRemoved = true): Promise<void> {
  for (const pid of tree) s.seen.add(pid);
  const until = Date.now() + 30_000;
  while (tree.some(alive)) {
    if (Date.now() > until) throw new Error(`still running 30 s later: ${tree.filter(alive).join(" ")}\n${s.out.slice(from).join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const after = s.out.slice(from);
  // Each ws-node drained (the notice period, /readyz 503) rather than being cut off.
  for (const port of s.ports.ws) expect(after.some((l) => l.includes(`"nodeId":"ws-${port}"`) && l.includes("draining: /readyz answers 503")), after.join("\n")).toBe(true);
  for (const port of [s.ports.api, s.ports.worker, ...s.ports.ws]) expect(await portOpen(port)).toBe(false);
  if (devEnvRemoved) expect(existsSync(s.devEnvFile)).toBe(false);
}

describe("npm start supervises its children", () => {
  let s: Started;
  let sup: ChildProcess;
  let out: string[];
  let ports: Started["ports"];
  let env: TestEnv;
  let devEnvFile: string;

  beforeAll(async () => {
    s = await startCluster("npm", ["start"], "sdc-dev.env");
    ({ proc: sup, out, ports, env, devEnvFile } = s);
  }, 150_000);
  afterAll(() => stopCluster(s), 30_000);

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

  it("prints the metrics token it generated, which opens every app's /metrics", async () => {
    const line = out.find((l) => l.includes("every app's /metrics"));
    const token = /Bearer (\S+)\s+\(generated for this run/.exec(line ?? "")?.[1];
    expect(token, out.join("\n")).toBeTruthy();
    for (const port of [ports.api, ports.worker, ports.ws[1]!]) {
      const r = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(r.status, `/metrics on port ${port}`).toBe(200);
    }
  });

  it("writes what the demos need, for the owner only, where they look", () => {
    expect(statSync(devEnvFile).mode & 0o777).toBe(0o600);
    const read: NodeJS.ProcessEnv = { SDC_DEV_ENV_FILE: devEnvFile };
    expect(loadDevEnv(read)).toBe(devEnvFile);
    expect(read).toMatchObject({
      API_PORT: String(ports.api),
      WS_PORTS: ports.ws.join(","),
      ADMIN_EMAIL: env.config.ADMIN_EMAIL,
      ADMIN_PASSWORD: env.config.ADMIN_PASSWORD,
      PAYMENT_WEBHOOK_SECRET: env.config.PAYMENT_WEBHOOK_SECRET,
    });
    // What the environment sets wins over the file.
    const given: NodeJS.ProcessEnv = { SDC_DEV_ENV_FILE: devEnvFile, ADMIN_PASSWORD: "given" };
    loadDevEnv(given);
    expect(given.ADMIN_PASSWORD).toBe("given");
  });

  // Last: it stops the cluster.
  it("SIGTERM to npm's pid drains the ws-nodes and stops every process under it", { timeout: 60_000 }, async () => {
    const tree = processTree(sup.pid!);
    // npm, the supervisor, the API, the worker, two ws-nodes (and the loader's helpers).
    expect(tree.length, out.join("\n")).toBeGreaterThanOrEqual(6);
    const from = out.length;
    const exited = new Promise<number | null>((r) => sup.once("exit", (code) => r(code)));
    process.kill(sup.pid!, "SIGTERM");
    await expectDrainedAndGone(s, tree, from);
    expect(await exited).toBe(0);
  });
});

describe("npm start whose parent dies without passing a signal on", () => {
  let s: Started;
  beforeAll(async () => {
    // A shell between the caller and start.ts, as `sh -c` (the trailing command keeps it from
    // exec'ing node), killed outright: nothing is forwarded, start.ts is simply orphaned.
    s = await startCluster("sh", ["-c", "node --import tsx scripts/start.ts; exit $?"], "sdc-dev-orphan.env");
  }, 150_000);
  afterAll(() => stopCluster(s), 30_000);

  it("drains the ws-nodes and stops every process once its parent is gone", { timeout: 60_000 }, async () => {
    const tree = processTree(s.proc.pid!);
    expect(tree.length, s.out.join("\n")).toBeGreaterThanOrEqual(6);
    const from = s.out.length;
    process.kill(s.proc.pid!, "SIGKILL");
    await expectDrainedAndGone(s, tree, from);
    expect(s.out.slice(from).join("\n")).toContain("its parent process");
  });
});

describe("npm start killed outright", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startCluster(process.execPath, ["--import", "tsx", "scripts/start.ts"], "sdc-dev-killed.env");
  }, 150_000);
  afterAll(() => stopCluster(s), 30_000);

  it("leaves no app behind: each notices and drains by itself", { timeout: 60_000 }, async () => {
    const tree = processTree(s.proc.pid!);
    expect(tree.length, s.out.join("\n")).toBeGreaterThanOrEqual(5);
    const from = s.out.length;
    process.kill(s.proc.pid!, "SIGKILL");
    // A process killed with SIGKILL cannot remove its file; the next `npm start` overwrites it.
    await expectDrainedAndGone(s, tree, from, false);
    expect(s.out.slice(from).join("\n")).toContain("supervisor is gone");
  });
});

describe("npm start with a port already taken", () => {
  let env: TestEnv;
  let holder: Server;
  const hash = "scrypt$the-running-cluster's";

  beforeAll(async () => {
    env = await createTestEnv();
    // The admin of a cluster already running on this database.
    await env.db.sql`insert into users (username, email, password_hash, role) values ('admin', ${env.config.ADMIN_EMAIL}, ${hash}, 'admin')`;
  });
  afterAll(async () => {
    holder?.close();
    await env?.close();
  });

  const start = async (variable: "API_PORT" | "WORKER_PORT" | "WS_PORTS") => {
    const ports = { API_PORT: await freePort(), WORKER_PORT: await freePort(), WS_PORTS: await freePort(), second: await freePort() };
    holder = createServer();
    await new Promise<void>((r) => holder.listen(ports[variable], "127.0.0.1", r));
    const devEnvFile = join(tmp, `taken-${variable}.env`);
    const childEnv: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: "development",
      LOG_LEVEL: "warn",
      HOST: "127.0.0.1",
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_PREFIX: env.config.REDIS_PREFIX,
      ADMIN_EMAIL: env.config.ADMIN_EMAIL,
      SDC_DEV_ENV_FILE: devEnvFile,
      API_PORT: String(ports.API_PORT),
      WORKER_PORT: String(ports.WORKER_PORT),
      WS_PORTS: `${ports.second},${ports.WS_PORTS}`,
    };
    delete childEnv.ADMIN_PASSWORD; // generated, as by a plain `npm start`
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], { cwd: root, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    for (const s of [child.stdout!, child.stderr!]) s.on("data", (d: Buffer) => (text += d.toString("utf8")));
    const code = await new Promise<number | null | "running">((r) => {
      child.once("exit", (c) => r(c));
      setTimeout(() => r("running"), 30_000);
    });
    if (code === "running") {
      // It did not refuse: stop what it started (its children stop once it is gone).
      const tree = processTree(child.pid!);
      for (const pid of tree) if (alive(pid) && ours(pid)) process.kill(pid, "SIGKILL");
    }
    await new Promise<void>((r) => holder.close(() => r()));
    return { code, text, port: ports[variable], devEnvFile };
  };

  for (const variable of ["API_PORT", "WS_PORTS", "WORKER_PORT"] as const)
    it(`refuses at once, naming the port and ${variable}, and starts and writes nothing`, { timeout: 60_000 }, async () => {
      const r = await start(variable);
      expect(r.code, r.text).toBe(1);
      expect(r.text).toContain(`port ${r.port} on 127.0.0.1 is already in use`);
      expect(r.text).toContain(variable);
      expect(r.text).not.toContain("started (pid");
      expect(r.text).not.toContain("is up");
      const [admin] = await env.db.sql<{ password_hash: string }[]>`select password_hash from users where email = ${env.config.ADMIN_EMAIL}`;
      expect(admin!.password_hash).toBe(hash);
      expect(existsSync(r.devEnvFile)).toBe(false);
    });
});
