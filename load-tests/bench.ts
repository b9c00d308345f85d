/**
 * `npm run bench`: measures the cluster on this machine, next to a Socket.IO baseline, and prints a
 * table.
 *
 * Both sides run as two server processes behind no balancer, clients spread over both, against the
 * same Redis; the cluster also has its worker and a private PostgreSQL database and Redis prefix.
 * The baseline (load-tests/baseline/socketio-node.ts) is seat locking as commonly built with
 * Socket.IO and its Redis adapter. Scenarios, run on each side:
 *   1. lock round trips: C clients lock and unlock their own seat as fast as replies come back
 *      (every lock is also broadcast to every other client of the event);
 *   2. contention (cluster only): 200 clients race for 50 seats, the test suite's scenario;
 *   3. fan-out: W watchers, one author locks seats at a steady rate; receive time minus push time;
 *   4. memory: server RSS before and after W watchers joined a small event;
 *   5. hold expiry (cluster only): 1 s holds, how late after the deadline the owner hears `deleted`.
 * Sizes: BENCH_CLIENTS (100), BENCH_WATCHERS (2000), BENCH_SECONDS (5), BENCH_RATE (50 locks/s in
 * the fan-out run); BENCH_BASELINE=0 skips Socket.IO. The load generator shares the machine's cores
 * with the servers, so every figure is a floor. Every loop is bounded and talks to 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { io as sioConnect, type Socket as SioSocket } from "socket.io-client";
import WebSocket from "ws";
import { decodePhx, encodePhx } from "@seatdrop/protocol";
import { createEvent, createUser, seatIdsGrid } from "../test/support/cluster.ts";
import { createTestEnv, type TestEnv } from "../test/support/test-env.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 100);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RATE = Number(process.env.BENCH_RATE ?? 50);
const BASELINE = process.env.BENCH_BASELINE !== "0";

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (n: number) => (n < 10 ? n.toFixed(1) : n.toFixed(0));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startProcess(entry: string, env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", entry], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      /* starting */
    }
    await sleep(100);
  }
  throw new Error(`${entry} did not start`);
}

async function rssKb(pids: number[]): Promise<number> {
  let sum = 0;
  for (const pid of pids) sum += Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return sum;
}

/** What a scenario needs of a client, whichever server it talks to. */
interface BenchClient {
  lock(seat: string): Promise<{ ok: boolean; expiresAt?: number }>;
  unlock(seat: string): Promise<boolean>;
  /** Called for every `locked` broadcast (parsing is skipped until a listener is set). */
  onLocked?: (seat: string) => void;
  onDeleted?: () => void;
  close(): void;
}

/** A raw Phoenix V2 client: cheaper than the stock one, so one process can drive thousands. */
async function phxClient(port: number, eventId: string, token?: string): Promise<BenchClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0${token ? `&token=${token}` : ""}`);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const topic = `seats:${eventId}`;
  let ref = 1;
  const pending = new Map<string, (r: { status: string; response: Record<string, unknown> }) => void>();
  const c: BenchClient = {
    lock: (seat) => send("lock", { seat }).then((r) => ({ ok: r.status === "ok", expiresAt: r.response.expires_at as number })),
    unlock: (seat) => send("unlock", { seat }).then((r) => r.status === "ok"),
    close: () => ws.close(),
  };
  ws.on("message", (data: Buffer) => {
    const isReply = data.indexOf("phx_reply") >= 0;
    if (!isReply && !c.onLocked && !c.onDeleted) return;
    const d = decodePhx(data.toString());
    if (!d.ok) return;
    const [, r, , event, payload] = d.frame;
    if (event === "phx_reply" && r) {
      pending.get(r)?.(payload as { status: string; response: Record<string, unknown> });
      pending.delete(r);
    } else if (event === "locked") c.onLocked?.(payload.seat as string);
    else if (event === "deleted") c.onDeleted?.();
  });
  function send(event: string, payload: Record<string, unknown>) {
    const r = String(++ref);
    return new Promise<{ status: string; response: Record<string, unknown> }>((resolve) => {
      pending.set(r, resolve);
      ws.send(encodePhx("1", r, topic, event, payload));
    });
  }
  await new Promise<void>((resolve) => {
    pending.set("1", () => resolve());
    ws.send(encodePhx("1", "1", topic, "phx_join", {}));
  });
  return c;
}

async function sioClient(port: number, eventId: string, user: string): Promise<BenchClient> {
  const s: SioSocket = sioConnect(`http://127.0.0.1:${port}`, { transports: ["websocket"], auth: { user }, reconnection: false });
  await new Promise<void>((resolve, reject) => {
    s.once("connect", () => resolve());
    s.once("connect_error", reject);
  });
  await s.emitWithAck("join", eventId);
  const c: BenchClient = {
    lock: (seat) => s.emitWithAck("lock", { eventId, seat }).then((r: { ok: boolean }) => ({ ok: r.ok })),
    unlock: (seat) => s.emitWithAck("unlock", { eventId, seat }).then((r: { ok: boolean }) => r.ok),
    close: () => s.close(),
  };
  s.on("locked", (m: { seat: string }) => c.onLocked?.(m.seat));
  return c;
}

/** One side of the comparison: how to make an event, and a client of it on node `i`. */
interface Target {
  name: string;
  pids: number[];
  newEvent(seats: string[], settings?: Record<string, number>): Promise<string>;
  client(i: number, eventId: string, anonymous?: boolean): Promise<BenchClient>;
}

async function inBatches<T>(n: number, make: (i: number) => Promise<T>, batch = 200): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => make(i + j)))));
  return out;
}

async function lockRoundTrips(t: Target): Promise<string> {
  const seats = seatIdsGrid(26, Math.ceil(CLIENTS / 26));
  const eventId = await t.newEvent(seats);
  const clients = await inBatches(CLIENTS, (i) => t.client(i, eventId));
  const rtts: number[] = [];
  const until = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c, i) => {
      while (performance.now() < until) {
        let s = performance.now();
        if (!(await c.lock(seats[i]!)).ok) throw new Error(`${t.name}: lock refused`);
        rtts.push(performance.now() - s);
        s = performance.now();
        if (!(await c.unlock(seats[i]!))) throw new Error(`${t.name}: unlock refused`);
        rtts.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  clients.forEach((c) => c.close());
  rtts.sort((a, b) => a - b);
  return `${Math.round(rtts.length / secs)}/s, p50 ${ms(pct(rtts, 0.5))} ms, p99 ${ms(pct(rtts, 0.99))} ms`;
}

async function contention(t: Target): Promise<string> {
  const seats = seatIdsGrid(5, 10);
  const eventId = await t.newEvent(seats, { holdMaxSeats: 1 });
  const clients = await inBatches(200, (i) => t.client(i, eventId));
  const rtts: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c, i) => {
      for (const k of [1, 7, 13, 3, 11]) {
        const s = performance.now();
        await c.lock(seats[(i * k + k) % 50]!);
        rtts.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  clients.forEach((c) => c.close());
  rtts.sort((a, b) => a - b);
  return `${Math.round(rtts.length / secs)}/s, p50 ${ms(pct(rtts, 0.5))} ms, p99 ${ms(pct(rtts, 0.99))} ms`;
}

/** Server RSS growth per connected, joined, idle watcher (a 10-seat event, so join replies are small on both sides). */
async function memoryPerWatcher(t: Target): Promise<string> {
  const eventId = await t.newEvent(seatIdsGrid(1, 10));
  const before = await rssKb(t.pids);
  const watchers = await inBatches(WATCHERS, (i) => t.client(i, eventId, true));
  await sleep(2000);
  const after = await rssKb(t.pids);
  watchers.forEach((c) => c.close());
  await sleep(1000);
  return `${((after - before) / WATCHERS).toFixed(1)} KiB`;
}

async function fanOut(t: Target): Promise<string> {
  const seats = seatIdsGrid(26, 40);
  const eventId = await t.newEvent(seats, { holdMaxSeats: 2000 });
  const sentAt = new Map<string, number>();
  const lat: number[] = [];
  let received = 0;
  const watchers = await inBatches(WATCHERS, (i) => t.client(i, eventId, true));
  for (const w of watchers)
    w.onLocked = (seat) => {
      received++;
      const at = sentAt.get(seat);
      if (at !== undefined) lat.push(performance.now() - at);
    };
  await sleep(1000);
  const author = await t.client(0, eventId);
  const count = Math.min(seats.length, RATE * SECONDS);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    sentAt.set(seats[i]!, performance.now());
    void author.lock(seats[i]!);
    const wait = t0 + ((i + 1) * 1000) / RATE - performance.now();
    if (wait > 0) await sleep(wait);
  }
  const expected = count * WATCHERS;
  for (let i = 0; i < 100 && received < expected; i++) await sleep(100);
  const secs = (performance.now() - t0) / 1000;
  watchers.forEach((c) => c.close());
  author.close();
  lat.sort((a, b) => a - b);
  return `${Math.round(received / secs)} deliveries/s (${received}/${expected}), p50 ${ms(pct(lat, 0.5))} ms, p99 ${ms(pct(lat, 0.99))} ms`;
}

async function holdExpiry(t: Target): Promise<string> {
  const seats = seatIdsGrid(1, 20);
  const eventId = await t.newEvent(seats, { holdTtlMs: 1000 });
  const lags: number[] = [];
  await Promise.all(
    seats.map(async (seat, i) => {
      const c = await t.client(i, eventId);
      const deleted = new Promise<void>((resolve) => (c.onDeleted = resolve));
      const { expiresAt } = await c.lock(seat);
      await deleted;
      lags.push(Date.now() - expiresAt!);
      c.close();
    }),
  );
  lags.sort((a, b) => a - b);
  return `p50 ${pct(lags, 0.5)} ms, max ${lags[lags.length - 1]} ms after the deadline`;
}

async function main() {
  const env: TestEnv = await createTestEnv({ LOG_LEVEL: "warn" });
  const procs: ChildProcess[] = [];
  const rows: [string, string, string][] = [];
  try {
    const ports = [await freePort(), await freePort()];
    const workerPort = await freePort();
    const childEnv: Record<string, string> = {
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_PREFIX: env.config.REDIS_PREFIX,
      JWT_SECRET: env.config.JWT_SECRET,
      SERVICE_SECRET: env.config.SERVICE_SECRET,
      LOG_LEVEL: "warn",
      WS_PUSH_RATE: "100000",
      WS_PUSH_BURST: "100000",
    };
    const nodes = [];
    for (const [i, port] of ports.entries()) nodes.push(await startProcess("apps/ws-node/src/main.ts", { ...childEnv, WS_PORT: String(port), NODE_ID: `bench-${i}` }, port));
    procs.push(...nodes, await startProcess("apps/worker/src/main.ts", { ...childEnv, WORKER_PORT: String(workerPort) }, workerPort));
    const cluster: Target = {
      name: "cluster",
      pids: nodes.map((p) => p.pid!),
      newEvent: (seats, settings = {}) => createEvent(env, seats, settings),
      client: async (i, eventId, anonymous) => phxClient(ports[i % 2]!, eventId, anonymous ? undefined : (await createUser(env)).token),
    };

    let baseline: Target | undefined;
    let sioNodes: ChildProcess[] = [];
    if (BASELINE) {
      const sioPorts = [await freePort(), await freePort()];
      const sioPrefix = `${env.config.REDIS_PREFIX}:sio`;
      for (const port of sioPorts) sioNodes.push(await startProcess("load-tests/baseline/socketio-node.ts", { PORT: String(port), PREFIX: sioPrefix, REDIS_URL: env.config.REDIS_URL }, port));
      procs.push(...sioNodes);
      let n = 0;
      baseline = {
        name: "socket.io",
        pids: sioNodes.map((p) => p.pid!),
        newEvent: async () => `ev${++n}`,
        client: (i, eventId) => sioClient(sioPorts[i % 2]!, eventId, `u${i}-${Math.random()}`),
      };
    }

    const both = async (label: string, f: (t: Target) => Promise<string>) => rows.push([label, await f(cluster), baseline ? await f(baseline) : "—"]);
    // Memory first, while the servers' heaps hold nothing but what a connection costs.
    await both(`server memory per idle watcher (${WATCHERS} watchers)`, memoryPerWatcher);
    await both(`lock/unlock round trips, ${CLIENTS} clients on 2 nodes`, lockRoundTrips);
    rows.push([`contention: 200 clients race for 50 seats`, await contention(cluster), "—"]);
    await both(`fan-out: ${WATCHERS} watchers, ${RATE} locks/s`, fanOut);
    rows.push([`hold expiry with a 1 s TTL (20 holds)`, await holdExpiry(cluster), "—"]);
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    await sleep(500);
    await env.close();
  }
  const w0 = Math.max(8, ...rows.map((r) => r[0].length));
  const w1 = Math.max(18, ...rows.map((r) => r[1].length));
  console.log(`\n| ${"scenario".padEnd(w0)} | ${"seat drop cluster".padEnd(w1)} | Socket.IO + Redis adapter |`);
  console.log(`|${"-".repeat(w0 + 2)}|${"-".repeat(w1 + 2)}|---|`);
  for (const [k, a, b] of rows) console.log(`| ${k.padEnd(w0)} | ${a.padEnd(w1)} | ${b} |`);
  console.log(`\n(${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores, load generator on the same machine)`);
  process.exit(0);
}

await main();
