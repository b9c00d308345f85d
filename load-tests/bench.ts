/**
 * `npm run bench`: measures the cluster on this machine and prints a table.
 *
 * It starts two ws-nodes and a worker as separate processes (so the load generator does not share
 * their event loop) against a private PostgreSQL database and Redis prefix, then runs:
 *   1. lock round trips: C clients lock and unlock their own seats as fast as replies come back;
 *   2. contention: 200 clients on two nodes race for 50 seats (the test suite's scenario);
 *   3. fan-out: W watchers split over both nodes, one author locks seats at a steady rate, and
 *      each watcher's receive time is compared with the push time;
 *   4. memory: ws-node RSS before and after the watchers connected;
 *   5. hold expiry: holds with a 1 s TTL, and how late after the deadline the owner hears `deleted`.
 * Sizes: BENCH_CLIENTS (default 100), BENCH_WATCHERS (default 2000), BENCH_SECONDS (default 5),
 * BENCH_RATE (locks per second in the fan-out run, default 50).
 * The load generator runs on the same cores as the cluster, so every figure is a floor.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { decodePhx, encodePhx } from "@seatdrop/protocol";
import { createTestEnv, type TestEnv } from "../test/support/test-env.ts";
import { createEvent, createUser, seatIdsGrid } from "../test/support/cluster.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 100);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RATE = Number(process.env.BENCH_RATE ?? 50);

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A raw Phoenix V2 client: cheaper than the stock one, so one process can drive thousands. */
class RawPhx {
  private ws: WebSocket;
  private ref = 0;
  private pending = new Map<string, (r: { status: string; response: Record<string, unknown> }) => void>();
  static readonly ignore = () => {};
  onPush: (event: string, payload: Record<string, unknown>) => void = RawPhx.ignore;
  opened: Promise<void>;
  constructor(port: number, token?: string) {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0${token ? `&token=${token}` : ""}`);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
    this.ws.on("message", (data: Buffer) => {
      // Parse only what the bench reads: replies, and pushes someone listens for.
      if (data.indexOf("phx_reply") < 0 && this.onPush === RawPhx.ignore) return;
      const d = decodePhx(data.toString());
      if (!d.ok) return;
      const [, ref, , event, payload] = d.frame;
      if (event === "phx_reply" && ref) {
        this.pending.get(ref)?.(payload as { status: string; response: Record<string, unknown> });
        this.pending.delete(ref);
      } else this.onPush(event, payload);
    });
  }
  send(topic: string, event: string, payload: Record<string, unknown>, joinRef: string | null = "1") {
    const ref = String(++this.ref);
    return new Promise<{ status: string; response: Record<string, unknown> }>((resolve) => {
      this.pending.set(ref, resolve);
      this.ws.send(encodePhx(event === "phx_join" ? ref : joinRef, ref, topic, event, payload));
    });
  }
  async join(topic: string) {
    this.ref = 0;
    return this.send(topic, "phx_join", {});
  }
  close() {
    this.ws.close();
  }
}

function startProcess(entry: string, env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", entry], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit"] });
  return (async () => {
    for (let i = 0; i < 150; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
      } catch {
        /* starting */
      }
      await sleep(100);
    }
    throw new Error(`${entry} did not start`);
  })();
}

function rssKb(pid: number): Promise<number> {
  return import("node:fs/promises").then(async (fs) => {
    const status = await fs.readFile(`/proc/${pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  });
}

async function main() {
  const env: TestEnv = await createTestEnv({ LOG_LEVEL: "warn" });
  const procs: ChildProcess[] = [];
  const rows: [string, string][] = [];
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
    for (const [i, port] of ports.entries()) procs.push(await startProcess("apps/ws-node/src/main.ts", { ...childEnv, WS_PORT: String(port), NODE_ID: `bench-${i}` }, port));
    procs.push(await startProcess("apps/worker/src/main.ts", { ...childEnv, WORKER_PORT: String(workerPort) }, workerPort));

    // 1. Lock round trips: each client locks then unlocks its own seat, closed loop.
    {
      const seats = seatIdsGrid(26, Math.ceil(CLIENTS / 26));
      const eventId = await createEvent(env, seats, { holdMaxSeats: 10 });
      const topic = `seats:${eventId}`;
      const clients = await Promise.all(
        Array.from({ length: CLIENTS }, async (_, i) => {
          const c = new RawPhx(ports[i % 2]!, (await createUser(env)).token);
          await c.opened;
          await c.join(topic);
          return c;
        }),
      );
      const rtts: number[] = [];
      const until = performance.now() + SECONDS * 1000;
      const t0 = performance.now();
      await Promise.all(
        clients.map(async (c, i) => {
          const seat = seats[i]!;
          while (performance.now() < until) {
            for (const ev of ["lock", "unlock"]) {
              const s = performance.now();
              const r = await c.send(topic, ev, { seat });
              if (r.status !== "ok") throw new Error(`${ev} failed: ${JSON.stringify(r.response)}`);
              rtts.push(performance.now() - s);
            }
          }
        }),
      );
      const secs = (performance.now() - t0) / 1000;
      rtts.sort((a, b) => a - b);
      rows.push([`lock/unlock round trips, ${CLIENTS} clients, 2 nodes`, `${Math.round(rtts.length / secs)}/s, p50 ${pct(rtts, 0.5).toFixed(2)} ms, p99 ${pct(rtts, 0.99).toFixed(2)} ms`]);
      clients.forEach((c) => c.close());
    }

    // 2. Contention: 200 clients race for 50 seats.
    {
      const seats = seatIdsGrid(5, 10);
      const eventId = await createEvent(env, seats, { holdMaxSeats: 1 });
      const topic = `seats:${eventId}`;
      const clients = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const c = new RawPhx(ports[i % 2]!, (await createUser(env)).token);
          await c.opened;
          await c.join(topic);
          return c;
        }),
      );
      const rtts: number[] = [];
      const t0 = performance.now();
      await Promise.all(
        clients.map(async (c, i) => {
          for (const k of [1, 7, 13, 3, 11]) {
            const s = performance.now();
            await c.send(topic, "lock", { seat: seats[(i * k + k) % 50]! });
            rtts.push(performance.now() - s);
          }
        }),
      );
      const secs = (performance.now() - t0) / 1000;
      rtts.sort((a, b) => a - b);
      rows.push([`contention: 200 clients, 50 seats, 1000 pushes`, `${Math.round(rtts.length / secs)}/s, p50 ${pct(rtts, 0.5).toFixed(2)} ms, p99 ${pct(rtts, 0.99).toFixed(2)} ms`]);
      clients.forEach((c) => c.close());
    }

    // 3 + 4. Fan-out to many watchers, and the memory they cost.
    {
      const seats = seatIdsGrid(26, 40);
      const eventId = await createEvent(env, seats, { holdMaxSeats: 2000 });
      const topic = `seats:${eventId}`;
      const rssBefore = (await Promise.all(procs.slice(0, 2).map((p) => rssKb(p.pid!)))).reduce((a, b) => a + b, 0);
      const sentAt = new Map<string, number>();
      const lat: number[] = [];
      let received = 0;
      const watchers: RawPhx[] = [];
      for (let i = 0; i < WATCHERS; i += 200) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(200, WATCHERS - i) }, async (_, j) => {
            const c = new RawPhx(ports[(i + j) % 2]!);
            await c.opened;
            await c.join(topic);
            c.onPush = (event, payload) => {
              if (event !== "locked") return;
              received++;
              const t = sentAt.get(payload.seat as string);
              if (t !== undefined) lat.push(performance.now() - t);
            };
            return c;
          }),
        );
        watchers.push(...batch);
      }
      await sleep(1000);
      const rssAfter = (await Promise.all(procs.slice(0, 2).map((p) => rssKb(p.pid!)))).reduce((a, b) => a + b, 0);
      const author = new RawPhx(ports[0]!, (await createUser(env)).token);
      await author.opened;
      await author.join(topic);
      const rate = RATE; // locks per second
      const count = Math.min(seats.length, rate * SECONDS);
      const t0 = performance.now();
      for (let i = 0; i < count; i++) {
        sentAt.set(seats[i]!, performance.now());
        void author.send(topic, "lock", { seat: seats[i]! });
        const due = t0 + ((i + 1) * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
      }
      const expected = count * WATCHERS;
      for (let i = 0; i < 100 && received < expected; i++) await sleep(100);
      const secs = (performance.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      rows.push([`fan-out: ${WATCHERS} watchers, ${rate} locks/s`, `${Math.round(received / secs)} deliveries/s, ${received}/${expected} delivered, latency p50 ${pct(lat, 0.5).toFixed(1)} ms, p99 ${pct(lat, 0.99).toFixed(1)} ms`]);
      rows.push([`memory per idle watcher (ws-node RSS)`, `${((rssAfter - rssBefore) / WATCHERS).toFixed(1)} KiB (${(rssBefore / 1024).toFixed(0)} → ${(rssAfter / 1024).toFixed(0)} MiB for 2 nodes)`]);
      watchers.forEach((c) => c.close());
      author.close();
    }

    // 5. Hold expiry lag.
    {
      const seats = seatIdsGrid(1, 20);
      const eventId = await createEvent(env, seats, { holdTtlMs: 1000 });
      const topic = `seats:${eventId}`;
      const lags: number[] = [];
      await Promise.all(
        seats.map(async (seat, i) => {
          const c = new RawPhx(ports[i % 2]!, (await createUser(env)).token);
          await c.opened;
          await c.join(topic);
          const r = await c.send(topic, "lock", { seat });
          const deadline = r.response.expires_at as number;
          await new Promise<void>((resolve) => {
            c.onPush = (event) => {
              if (event === "deleted") {
                lags.push(Date.now() - deadline);
                resolve();
              }
            };
          });
          c.close();
        }),
      );
      lags.sort((a, b) => a - b);
      rows.push([`hold expiry: deleted after the deadline (20 holds, 1 s TTL)`, `p50 ${pct(lags, 0.5)} ms, max ${lags[lags.length - 1]} ms`]);
    }
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    await sleep(500);
    await env.close();
  }
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`\n| scenario${" ".repeat(w - 8)} | result |\n|${"-".repeat(w + 2)}|--------|`);
  for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`);
  console.log(`\n(${new Date().toISOString()}, node ${process.version}, ${(await import("node:os")).cpus().length} cores)`);
  process.exit(0);
}

await main();
