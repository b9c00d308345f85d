/**
 * `npm start`: the whole cluster on one machine. Checks Redis and PostgreSQL (one clear line each
 * when they are missing), runs migrations, then starts the API, the worker and one ws-node per
 * port of WS_PORTS as child processes, waits for each `/healthz`, and prints where they listen.
 *
 * It supervises them: a child that exits (a ws-node drained with SIGTERM to rehearse a deploy, a
 * crash) is reported and started again after a back-off (1 s, doubling to 30 s; back to 1 s once it
 * ran a minute); the others keep running. After RESTART_LIMIT exits in a row that never got to run a
 * minute it is left down, and the log says so. Ctrl-C stops everything at once; SIGTERM drains.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ConfigError, loadConfig, type Config } from "@seatdrop/config";
import { connectDb, probeDatabase, runMigrations } from "@seatdrop/db";
import { describeRedis, probeRedis } from "@seatdrop/redis";

const root = fileURLToPath(new URL("..", import.meta.url));
const explicitAdminPassword = Boolean(process.env.ADMIN_PASSWORD);

function fail(line: string, code = 1): never {
  console.error(`npm start: ${line}`);
  process.exit(code);
}

// The development payment provider is an explicit opt-in (DEV_PAYMENTS); `npm start` outside
// production turns it on for the buyer page's "Pay" and says so in its banner.
if (process.env.NODE_ENV !== "production") process.env.DEV_PAYMENTS ??= "1";

let config: Config;
try {
  config = loadConfig(); // also writes generated development secrets into process.env for the children
} catch (err) {
  if (err instanceof ConfigError) fail(err.message, 2);
  throw err;
}

const [redisProblem, dbProblem] = await Promise.all([probeRedis(config.REDIS_CLUSTER_NODES ? `redis://${config.REDIS_CLUSTER_NODES[0]!.host}:${config.REDIS_CLUSTER_NODES[0]!.port}` : config.REDIS_URL), probeDatabase(config.DATABASE_URL)]);
if (redisProblem) fail(redisProblem);
if (dbProblem) fail(dbProblem);

const db = connectDb(config.DATABASE_URL, { max: 2 });
try {
  await runMigrations(db);
} catch (err) {
  fail(`migrations failed: ${(err as Error).message}`);
} finally {
  await db.close();
}

interface App {
  name: string;
  entry: string;
  port: number;
  env: Record<string, string>;
  child?: ChildProcess;
  /** Exits in a row that came before the child had run STABLE_MS. */
  failures: number;
  startedAt: number;
  restartTimer?: NodeJS.Timeout;
}
const BACKOFF_MS = [1000, 2000, 4000, 8000, 16_000, 30_000];
const RESTART_LIMIT = 10;
const STABLE_MS = 60_000;
const apps: App[] = [
  { name: "api", entry: "apps/api/src/main.ts", port: config.API_PORT, env: {} },
  { name: "worker", entry: "apps/worker/src/main.ts", port: config.WORKER_PORT, env: {} },
  ...config.WS_PORTS.map((port, i) => ({ name: `ws-node-${i + 1}`, entry: "apps/ws-node/src/main.ts", port, env: { WS_PORT: String(port), NODE_ID: `ws-${port}` } })),
].map((a) => ({ ...a, failures: 0, startedAt: 0 }));

let stopping = false;
/** SIGINT stops the children at once; SIGTERM lets the ws-nodes drain (WS_DRAIN_NOTICE_MS and their closes). */
function stopAll(code: number, signal: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  for (const a of apps) {
    clearTimeout(a.restartTimer);
    a.child?.kill(signal);
  }
  setTimeout(() => process.exit(code), signal === "SIGTERM" ? config.WS_DRAIN_NOTICE_MS + 15_000 : 5000).unref();
  void Promise.all(apps.map((a) => (a.child && a.child.exitCode === null && a.child.signalCode === null ? new Promise((r) => a.child!.once("exit", r)) : null))).then(() => process.exit(code));
}
process.once("SIGINT", () => stopAll(0, "SIGINT"));
process.once("SIGTERM", () => stopAll(0, "SIGTERM"));

function launch(a: App): void {
  a.startedAt = Date.now();
  const child = spawn(process.execPath, ["--import", "tsx", a.entry], {
    cwd: root,
    env: { ...process.env, ...a.env },
    stdio: ["ignore", "inherit", "inherit"],
  });
  a.child = child;
  console.error(`npm start: ${a.name} started (pid ${child.pid})`);
  child.once("exit", (code, signal) => {
    if (stopping) return;
    const how = signal ?? `code ${code}`;
    a.failures = Date.now() - a.startedAt >= STABLE_MS ? 1 : a.failures + 1;
    if (a.failures > RESTART_LIMIT) {
      console.error(`npm start: ${a.name} exited (${how}) ${RESTART_LIMIT} times in a row within a minute of starting; leaving it DOWN (the other apps keep running; restart npm start to try again)`);
      return;
    }
    const wait = BACKOFF_MS[Math.min(a.failures - 1, BACKOFF_MS.length - 1)]!;
    console.error(`npm start: ${a.name} exited (${how}); restarting it in ${wait / 1000} s (the other apps keep running)`);
    a.restartTimer = setTimeout(() => {
      if (!stopping) launch(a);
    }, wait);
  });
}
for (const a of apps) launch(a);

async function healthy(a: App): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${a.port}/healthz`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (stopping) throw new Error("stopping");
    if (a.failures > RESTART_LIMIT) throw new Error(`${a.name} keeps exiting; see its log above`);
    if (Date.now() > until) throw new Error(`${a.name} did not answer /healthz on port ${a.port} within 60 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

try {
  await Promise.all(apps.map(healthy));
} catch (err) {
  if (!stopping) {
    console.error(`npm start: ${(err as Error).message}`);
    stopAll(1, "SIGINT");
  }
  await new Promise(() => {});
}

const host = config.HOST === "0.0.0.0" ? "localhost" : config.HOST;
const lines = [
  "",
  "Seat drop cluster is up:",
  `  API        http://${host}:${config.API_PORT}        (OpenAPI: /openapi.json, health: /healthz)`,
  `  seat map   http://${host}:${config.API_PORT}/         ops page: http://${host}:${config.API_PORT}/ops`,
  `  worker     http://${host}:${config.WORKER_PORT}/healthz`,
  ...config.WS_PORTS.map((p) => `  ws-node    ws://${host}:${p}/socket/websocket   (Phoenix V2)   ws://${host}:${p}/?event=<id>   (seed 000)`),
  `  Redis      ${describeRedis(config)} (prefix ${config.REDIS_PREFIX})`,
  `  PostgreSQL ${config.DATABASE_URL.replace(/\/\/([^:@/]+):[^@]*@/, "//$1:***@")}`,
  `  payments   ${config.DEV_PAYMENTS ? `development provider ON (DEV_PAYMENTS=1: buyers pay their own orders at /dev/pay; DEV_PAYMENTS=0 turns it off)` : "development provider off (DEV_PAYMENTS=0): orders are paid through PAYMENT_WEBHOOK_SECRET's webhook"}`,
  `  admin      ${config.ADMIN_EMAIL}${explicitAdminPassword ? " (password from ADMIN_PASSWORD)" : ` / ${config.ADMIN_PASSWORD}   (generated for this run; set ADMIN_PASSWORD to choose)`}`,
  "Press Ctrl-C to stop.",
  "",
];
console.log(lines.join("\n"));
