/**
 * `npm start`: the whole cluster on one machine. Checks that every port it will listen on is free
 * (before anything starts or is written), checks Redis and PostgreSQL (one clear line each when they
 * are missing), runs migrations, then starts the API, the worker and one ws-node per port of
 * WS_PORTS as child processes, waits for each `/healthz`, and prints where they listen.
 *
 * It supervises them: a child that exits (a ws-node drained with SIGTERM to rehearse a deploy, a
 * crash) is reported and started again after a back-off (1 s, doubling to 30 s; back to 1 s once it
 * ran a minute); the others keep running. After RESTART_LIMIT exits in a row that never got to run a
 * minute it is left down, and the log says so. Ctrl-C stops everything at once; SIGTERM drains.
 *
 * The script in package.json `exec`s node, so npm's own process is this one's parent and the
 * signals npm forwards arrive here (a `sh -c` in between dies of SIGTERM without passing it on).
 * Should the parent go anyway (npm killed, a terminal closed), this process drains and stops as on
 * SIGTERM; and each child stops the same way when this process is gone.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, loadConfig, type Config } from "@seatdrop/config";
import { connectDb, probeDatabase, runMigrations } from "@seatdrop/db";
import { describeRedis, probeRedis } from "@seatdrop/redis";
import { devEnvFile, removeDevEnv, writeDevEnv } from "./dev-env.ts";
import { privateServers, stopPrivateServers } from "./private-servers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const explicitAdminPassword = Boolean(process.env.ADMIN_PASSWORD);
const explicitMetricsToken = Boolean(process.env.METRICS_TOKEN);

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

/**
 * Every port the children will listen on, with the variable that sets it. Checked before anything
 * starts: a taken API port used to let another process answer this start's /healthz ("up") while
 * its own API crash-looped, after that API had already reset the admin password in the database.
 */
const ports: { port: number; variable: string }[] = [
  { port: config.API_PORT, variable: "API_PORT" },
  { port: config.WORKER_PORT, variable: "WORKER_PORT" },
  ...config.WS_PORTS.map((port) => ({ port, variable: "WS_PORTS" })),
];
for (const [i, p] of ports.entries()) {
  const other = ports.findIndex((q) => q.port === p.port);
  if (other !== i) fail(`port ${p.port} is given twice (${ports[other]!.variable} and ${p.variable}); every app needs a port of its own`);
}
function portProblem(port: number, variable: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (err: NodeJS.ErrnoException) => {
      const what =
        err.code === "EADDRINUSE"
          ? "is already in use (another npm start, or another program, listens there)"
          : err.code === "EACCES"
            ? "may not be listened on by this user"
            : `cannot be listened on (${err.code ?? err.message})`;
      resolve(`port ${port} on ${config.HOST} ${what}; ${variable === "WS_PORTS" ? `change it in WS_PORTS (${config.WS_PORTS.join(",")})` : `set ${variable} to a free port`}, or stop what holds it. Nothing was started.`);
    });
    server.listen({ host: config.HOST, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
for (const p of ports) {
  const problem = await portProblem(p.port, p.variable);
  if (problem) fail(problem);
}

const redisUrl = config.REDIS_CLUSTER_NODES ? `redis://${config.REDIS_CLUSTER_NODES[0]!.host}:${config.REDIS_CLUSTER_NODES[0]!.port}` : config.REDIS_URL;
const [redisProblem, dbProblem] = await Promise.all([probeRedis(redisUrl), probeDatabase(config.DATABASE_URL)]);
// A store that does not answer: in development, a private one on this machine (scripts/private-servers.ts).
const { servers: ownServers, problems } = await privateServers({
  redis: { url: redisUrl, problem: redisProblem, cluster: Boolean(config.REDIS_CLUSTER_NODES) },
  postgres: { url: config.DATABASE_URL, problem: dbProblem },
  dataDir: process.env.SDC_DEV_DATA ?? path.join(root, ".dev-data"),
});
if (problems.length > 0) {
  await stopPrivateServers(ownServers);
  fail(problems.join("\n"));
}

const db = connectDb(config.DATABASE_URL, { max: 2 });
try {
  await runMigrations(db);
} catch (err) {
  await stopPrivateServers(ownServers);
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

/** The development values written for the demos (scripts/dev-env.ts), removed again on the way out. */
let devEnvWritten: string | undefined;
/** Leaves: the demo file removed, the private Redis and PostgreSQL (if any) stopped after the apps. */
function exit(code: number): void {
  if (devEnvWritten) removeDevEnv(devEnvWritten);
  void stopPrivateServers(ownServers).finally(() => process.exit(code));
}

let stopping: NodeJS.Signals | undefined;
const running = (a: App) => a.child !== undefined && a.child.exitCode === null && a.child.signalCode === null;
/**
 * SIGINT stops the children at once; SIGTERM lets the ws-nodes drain (WS_DRAIN_NOTICE_MS and their
 * closes). A SIGINT during a drain cuts it short. Whatever has not exited by the deadline is killed,
 * so this process never leaves a child behind.
 */
function stopAll(code: number, signal: NodeJS.Signals): void {
  if (stopping) {
    // Ctrl-C reaches both npm (which forwards it) and this process: only a change of signal counts.
    if (stopping === "SIGTERM" && signal === "SIGINT") {
      stopping = signal;
      for (const a of apps) if (running(a)) a.child!.kill(signal);
    }
    return;
  }
  stopping = signal;
  console.error(`npm start: ${signal}: ${signal === "SIGTERM" ? "draining and stopping" : "stopping"} every app`);
  for (const a of apps) {
    clearTimeout(a.restartTimer);
    if (running(a)) a.child!.kill(signal);
  }
  setTimeout(
    () => {
      for (const a of apps)
        if (running(a)) {
          console.error(`npm start: ${a.name} (pid ${a.child!.pid}) did not stop in time; killing it`);
          a.child!.kill("SIGKILL");
        }
      exit(code);
    },
    signal === "SIGTERM" ? config.WS_DRAIN_NOTICE_MS + 15_000 : 5000,
  ).unref();
  void Promise.all(apps.map((a) => (running(a) ? new Promise((r) => a.child!.once("exit", r)) : null))).then(() => exit(code));
}
process.on("SIGINT", () => stopAll(0, "SIGINT"));
process.on("SIGTERM", () => stopAll(0, "SIGTERM"));
process.on("SIGHUP", () => stopAll(0, "SIGTERM"));

// A parent that is gone (npm killed with SIGKILL, or a shell between npm and this process that died
// of the SIGTERM meant for us) leaves this process adopted by init: drain and stop as on SIGTERM
// rather than serve on with nobody to stop it.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid && !stopping) {
    console.error(`npm start: its parent process (pid ${parentPid}) is gone; draining and stopping`);
    stopAll(0, "SIGTERM");
  }
}, 500).unref();

function launch(a: App): void {
  a.startedAt = Date.now();
  const child = spawn(process.execPath, ["--import", "tsx", a.entry], {
    cwd: root,
    // The child drains and stops by itself should this process vanish (libs/observability's runApp).
    env: { ...process.env, ...a.env, SDC_SUPERVISOR_PID: String(process.pid) },
    stdio: ["ignore", "inherit", "inherit"],
    // Its own process group: Ctrl-C in the terminal reaches npm and this process, and each child
    // gets exactly one signal, from here (a second one would cut a ws-node's drain short).
    detached: true,
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

// What `npm run demo` and `npm run demo:chat` need, for a plain `npm start` whose admin password and
// webhook secret were generated for this run. Never in production: it holds them in clear.
if (process.env.NODE_ENV !== "production")
  devEnvWritten = writeDevEnv({
    API_PORT: String(config.API_PORT),
    WS_PORTS: config.WS_PORTS.join(","),
    ADMIN_EMAIL: config.ADMIN_EMAIL,
    ADMIN_PASSWORD: config.ADMIN_PASSWORD,
    PAYMENT_WEBHOOK_SECRET: config.PAYMENT_WEBHOOK_SECRET,
    CHAT_ACTIVATE_BEFORE_MS: String(config.CHAT_ACTIVATE_BEFORE_MS),
  });

const host = config.HOST === "0.0.0.0" ? "localhost" : config.HOST;
const lines = [
  "",
  "Seat drop cluster is up:",
  `  API        http://${host}:${config.API_PORT}        (OpenAPI: /openapi.json, health: /healthz)`,
  `  seat map   http://${host}:${config.API_PORT}/         ops page: http://${host}:${config.API_PORT}/ops`,
  `  worker     http://${host}:${config.WORKER_PORT}/healthz`,
  ...config.WS_PORTS.map((p) => `  ws-node    ws://${host}:${p}/socket/websocket   (Phoenix V2)   ws://${host}:${p}/?event=<id>   (legacy seat dialect)`),
  `  Redis      ${describeRedis(config)} (prefix ${config.REDIS_PREFIX})`,
  `  PostgreSQL ${config.DATABASE_URL.replace(/\/\/([^:@/]+):[^@]*@/, "//$1:***@")}`,
  ...(ownServers.length ? [`  private    ${ownServers.map((x) => x.name).join(" and ")} started for this run (data in ${process.env.SDC_DEV_DATA ?? ".dev-data/"}; stopped with npm start)`] : []),
  `  payments   ${config.DEV_PAYMENTS ? `development provider ON (DEV_PAYMENTS=1: buyers pay their own orders at /dev/pay; DEV_PAYMENTS=0 turns it off)` : "development provider off (DEV_PAYMENTS=0): orders are paid through PAYMENT_WEBHOOK_SECRET's webhook"}`,
  `  metrics    every app's /metrics, with Authorization: Bearer ${explicitMetricsToken ? "<METRICS_TOKEN>" : `${config.METRICS_TOKEN}   (generated for this run; set METRICS_TOKEN to choose)`}`,
  `  admin      ${config.ADMIN_EMAIL}${explicitAdminPassword ? " (password from ADMIN_PASSWORD)" : ` / ${config.ADMIN_PASSWORD}   (generated for this run; set ADMIN_PASSWORD to choose)`}`,
  ...(devEnvWritten ? [`  demo       npm run demo, npm run demo:chat   (they read this run's ports and secrets from ${devEnvFile()}, mode 0600)`] : []),
  "Press Ctrl-C to stop.",
  "",
];
console.log(lines.join("\n"));
