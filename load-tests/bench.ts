/**
 * `npm run bench [-- --quick] [-- --json FILE] [-- --only drop,fanout] [-- --no-peer] [-- --redis-cluster]`: measures the
 * cluster on this machine next to a Socket.IO baseline, and reports not only speed but the work
 * each operation costs, so a run on a busy machine still gives comparable figures:
 * - server CPU: user + system of the server processes from /proc/<pid>/stat, before and after the
 *   measured phase, per lock round trip or per delivered seat change;
 * - Redis µs per lock: `INFO commandstats` after `CONFIG RESETSTAT` at the start of the phase.
 *   The bench has its own key prefix but SHARES the Redis server (other clients' commands in that
 *   window are counted too, so on a busy machine this is an upper bound);
 * - the load generator's CPU: this process plus its generator children (lib/generator.ts), which
 *   hold the clients (raw `ws` Phoenix clients decoding only what a scenario needs).
 *
 * Scenarios (sizes: `--quick` for CI, else the full ones below; every size has a BENCH_* override):
 *   locks     100 buyers, each locking and unlocking its own seat (the scenario since the start);
 *   drop      1,000 buyers on one event over two nodes, joined with `changes`, locking and releasing
 *             random seats in a closed loop; double holds from the replies' seqs and the final map;
 *             the Socket.IO peer and the floor (baseline/floor-node.ts: the least a correct lock
 *             costs on the same stack) at the same load, the cluster's CPU printed as a ratio to it;
 *   fanout    10,000 watchers over two nodes, 500 seat changes/s for 10 s, once with per-change
 *             events and once with `changes`; 500 watchers parse every frame (latency from the
 *             change's reply to receipt; final map against GET /api/events/:id/seats);
 *   sections  the same on a 20-section, 100,000-seat venue, watchers on one section each (and a few
 *             on the whole venue, for the ratio);
 *   conns     15,000 idle authenticated sockets on one node: connects/s, RSS per socket after GC;
 *   expiry    10,000 holds due within about a second: lateness of each release and of `deleted`;
 *   chat      load-tests/chat-bench.ts in a child process (its own cluster): a join storm and
 *             2,000 members × 200 messages/s (200 × 50/s for 3 s with --quick); fails if stored ≠ acked.
 *   queue     load-tests/queue-bench.ts (its own cluster, rows in this table): the waiting room's draw
 *             of 100,000 entrants (2,000 on sockets), position pushes, and a 2,000-seat drop with and
 *             without the room; fails on a broken pacing, sell-out or place check (see that file).
 *   hot       one hot event: a cluster and the peers of their own on a PRIVATE redis-server
 *             (so `INFO cpu` of that Redis is this scenario's alone), 200 and 1,000 buyers locking and
 *             unlocking their own seats in a closed loop: round trips/s, p50/p99, Redis CPU and
 *             ws-node CPU per round trip, the group-commit batch sizes (the nodes' histogram), and
 *             the ratio to the floor.
 *   reads     load-tests/map-read-bench.ts (an API and a ws-node of its own): three clients looping
 *             GET /api/events/:id/seats of a 100,000-seat venue (plain and gzip, still and during a
 *             drop) while /healthz is probed, API CPU per read and the probe's p99; then 20 whole-map
 *             joins from one anonymous socket, the ws-node's CPU for them.
 *   page      load-tests/page-bench.ts (an API and a ws-node of its own): the buyer page on a
 *             20,000-seat stadium in Chromium: interactive, main-thread blocking while 600 changes
 *             arrive, a click shown after its reply (skipped without Chromium).
 *   shards    (`--redis-cluster`, or `--only shards`) the hot lock path on a standalone Redis, on a
 *             local Redis Cluster of three masters and three replicas, and there with group commit
 *             off; one event, then 30 events; Redis CPU summed over every Redis process, pub/sub
 *             messages out per seat change. The main scenarios picked run again on the cluster.
 * The main cluster starts only when one of the first six is picked.
 * BENCH_CPU_PROF=<dir> makes the ws-nodes write `node --cpu-prof` profiles there.
 * Exits non-zero on a double hold, a lost change, a map that disagrees with the API, or a failed
 * waiting-room check; targets (`target: …`) are reported as met or missed and never fail the run.
 * Everything talks to 127.0.0.1 only; every wait is bounded.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import * as jobsLib from "@seatdrop/jobs";
import { createLogger } from "@seatdrop/observability";
import { connectRedis, duplicateRedis, scanKeys } from "@seatdrop/redis";
import { SeatService } from "@seatdrop/seats";
import { killHard, startRedis } from "../test/support/private-redis.ts";
import { startRedisCluster } from "../test/support/redis-cluster.ts";
import { createTestEnv, type TestEnv } from "../test/support/test-env.ts";
import { createEvent, createUsers, plainSeats, sectionNames, venue, type BenchUser } from "./lib/fixtures.ts";
import { GenPool } from "./lib/gen-pool.ts";
import { Client, now, sectionOf, type ClientSpec } from "./lib/generator.ts";
import { Histogram } from "./lib/histogram.ts";
import { corkWarningsOf, freePort, median, root, rssKb, serverEnv, sleep, startServer } from "./lib/procs.ts";
import { measureCost, sizeReader, sumOf, type Check, type Cost, type Row } from "./lib/rows.ts";
import { mapReadBench } from "./map-read-bench.ts";
import { pageBench } from "./page-bench.ts";
import { queueBench } from "./queue-bench.ts";

const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    only: { type: "string" },
    "no-peer": { type: "boolean", default: false },
    "redis-cluster": { type: "boolean", default: false },
    gens: { type: "string" },
  },
});
const Q = opt.quick;
const num = sizeReader(Q);
const size = {
  lockBuyers: num("BENCH_CLIENTS", 100, 100),
  lockSeconds: num("BENCH_LOCK_SECONDS", 5, 2),
  dropBuyers: num("BENCH_DROP_BUYERS", 1000, 200),
  dropSeats: num("BENCH_DROP_SEATS", 2000, 400),
  dropSeconds: num("BENCH_DROP_SECONDS", 10, 3),
  fanWatchers: num("BENCH_WATCHERS", 10_000, 400),
  fanParsers: num("BENCH_PARSERS", 500, 100),
  fanRate: num("BENCH_RATE", 500, 200),
  fanSeconds: num("BENCH_SECONDS", 10, 3),
  fanSeats: num("BENCH_FAN_SEATS", 1000, 300),
  secWatchers: num("BENCH_SECTION_WATCHERS", 10_000, 400),
  secSections: num("BENCH_SECTIONS", 20, 20),
  secRows: num("BENCH_SECTION_ROWS", 100, 10),
  secPerRow: num("BENCH_SECTION_PER_ROW", 50, 10),
  conns: num("BENCH_CONNECTIONS", 15_000, 1000),
  expiryHolds: num("BENCH_EXPIRY_HOLDS", 10_000, 500),
  expiryOwners: num("BENCH_EXPIRY_OWNERS", 200, 50),
  expiryTtlMs: num("BENCH_EXPIRY_TTL_MS", 3000, 2000),
  drainMs: num("BENCH_DRAIN_MS", 15_000, 8000),
  hotBuyers: [num("BENCH_HOT_BUYERS_SMALL", 200, 100), num("BENCH_HOT_BUYERS", 1000, 200)],
  hotSeconds: num("BENCH_HOT_SECONDS", 8, 2),
  shardEvents: num("BENCH_SHARD_EVENTS", 30, 30),
};
const PEER = !opt["no-peer"] && process.env.BENCH_BASELINE !== "0";
/** The scenarios run on the cluster main() starts; `chat` and `queue` start their own. */
const MAIN_SCENARIOS = ["locks", "drop", "fanout", "sections", "conns", "expiry"];
const ONLY = new Set((opt.only ?? [...MAIN_SCENARIOS, "hot", "reads", "page", "chat", "queue"].join(",")).split(","));
// `--redis-cluster` adds the Redis Cluster comparison to whatever else runs (`--only shards` runs it alone).
if (opt["redis-cluster"]) ONLY.add("shards");
const GENS = Number(opt.gens ?? process.env.BENCH_GENS ?? 3);
const BENCH_METRICS_TOKEN = "bench-metrics-token-0123456789";

interface Side {
  name: "cluster" | "socket.io" | "floor";
  ports: number[];
  nodePids: number[];
  workerPids: number[];
  apiPids: number[];
}

const rows: Row[] = [];
/** Every server process, so a scenario fails at once (instead of waiting out its timeouts) when one died. */
const servers: { name: string; proc: ChildProcess }[] = [];
function assertServersUp(): void {
  const dead = servers.filter((s) => s.proc.exitCode !== null || s.proc.signalCode !== null);
  if (dead.length) throw new Error(`server process died: ${dead.map((d) => `${d.name} (exit ${d.proc.exitCode ?? d.proc.signalCode})`).join(", ")}; see its stderr above`);
}
const f1 = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString("en-US")) : "—");

/**
 * Puts the cluster's server CPU per lock round trip beside the floor's of the same run, as a ratio:
 * the figure that carries over between runs on this shared machine.
 */
function ratioToFloor(): void {
  for (const c of rows.filter((r) => r.side === "cluster")) {
    const f = rows.find((r) => r.side === "floor" && r.scenario === c.scenario);
    const cu = Number(c.figures.serverCpuUsPerRoundTrip);
    const fu = Number(f?.figures.serverCpuUsPerRoundTrip);
    if (!f || !(cu > 0) || !(fu > 0) || c.figures.cpuRatioToFloor !== undefined) continue;
    c.figures.cpuRatioToFloor = cu / fu;
    c.summary += `; ${(cu / fu).toFixed(1)}× the floor's server CPU per round trip (${Math.round(fu)} µs)`;
  }
}

/** Starts the cluster (and the comparison peers), runs the `picked` scenarios (MAIN_SCENARIOS, or `hot`), stops it. */
async function mainScenarios(env: TestEnv, gens: GenPool, picked: Set<string>, where = "", extraEnv: Record<string, string> = {}) {
  const procs: ChildProcess[] = [];
  try {
    const ports = [await freePort(), await freePort()];
    const workerPort = await freePort();
    const apiPort = await freePort();
    const childEnv = serverEnv(env, {
      ADMIN_EMAIL: "admin@bench.local",
      ADMIN_PASSWORD: "bench-admin-password",
      PAYMENT_WEBHOOK_SECRET: "bench-webhook-secret-0123456789",
      // The bench's buyers push as fast as replies come back; the per-socket limit is for abuse.
      WS_PUSH_RATE: "100000",
      WS_PUSH_BURST: "100000",
      // The buyers lock and unlock their own seat in a loop: the re-lock cool-down (an abuse guard)
      // would refuse most locks and measure refusals instead of the lock path.
      HOLD_RELOCK_COOLDOWN_MS: "0",
      // A watcher that falls 256 KiB behind is resynced instead of buffering 1 MiB: with 10,000
      // watchers the default would let a struggling run take 10 GiB of this shared machine's memory.
      WS_MAX_BACKPRESSURE: process.env.WS_MAX_BACKPRESSURE ?? "262144",
      // The hot scenario reads the group-commit batch sizes from the ws-nodes' /metrics.
      METRICS_TOKEN: BENCH_METRICS_TOKEN,
      ...extraEnv,
    });
    const nodes: ChildProcess[] = [];
    // --expose-gc and a SIGUSR2 handler (bench-only preload) let the connections scenario force a GC.
    const gcFlags = ["--expose-gc", "--import", "./load-tests/lib/gc-on-signal.mjs"];
    // BENCH_CPU_PROF=<dir>: the ws-nodes write V8 CPU profiles there when they exit (open in Chrome DevTools).
    if (process.env.BENCH_CPU_PROF) gcFlags.push("--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF);
    for (const [i, port] of ports.entries()) nodes.push(await startServer("apps/ws-node/src/main.ts", { ...childEnv, WS_PORT: String(port), NODE_ID: `bench-${i}` }, port, gcFlags));
    procs.push(...nodes);
    const worker = await startServer("apps/worker/src/main.ts", { ...childEnv, WORKER_PORT: String(workerPort) }, workerPort);
    const api = await startServer("apps/api/src/main.ts", { ...childEnv, API_PORT: String(apiPort) }, apiPort);
    procs.push(worker, api);
    servers.push(...nodes.map((proc, i) => ({ name: `ws-node ${i}`, proc })), { name: "worker", proc: worker }, { name: "api", proc: api });
    const cluster: Side = { name: "cluster", ports, nodePids: nodes.map((p) => p.pid!), workerPids: [worker.pid!], apiPids: [api.pid!] };

    /** Two nodes of a comparison peer, each its own process, on the same Redis under their own prefix. */
    const startPeer = async (name: "socket.io" | "floor", entry: string, prefix: string): Promise<Side> => {
      const peerPorts = [await freePort(), await freePort()];
      const peerNodes: ChildProcess[] = [];
      for (const port of peerPorts) peerNodes.push(await startServer(entry, { PORT: String(port), PREFIX: `${env.config.REDIS_PREFIX}:${prefix}`, REDIS_URL: env.config.REDIS_URL }, port));
      procs.push(...peerNodes);
      servers.push(...peerNodes.map((proc, i) => ({ name: `${name} node ${i}`, proc })));
      return { name, ports: peerPorts, nodePids: peerNodes.map((p) => p.pid!), workerPids: [], apiPids: [] };
    };
    // The peers take a single Redis's URL: the Redis Cluster comparison (`shards`) runs the cluster alone.
    const peers = PEER && !picked.has("shards");
    const peer = peers ? await startPeer("socket.io", "load-tests/baseline/socketio-node.ts", "sio") : undefined;
    // The floor: the least a correct lock can cost on the same stack (load-tests/baseline/floor-node.ts).
    const floor = peers ? await startPeer("floor", "load-tests/baseline/floor-node.ts", "floor") : undefined;
    await gens.all("ping");

    const b = new Bench(env, gens, apiPort, where);
    const most = Math.max(...(picked.has("hot") || picked.has("shards") ? size.hotBuyers : []), ...(picked.has("hot") ? [] : [size.lockBuyers, size.dropBuyers]));
    const users = await createUsers(env, Math.max(most, picked.has("conns") ? size.conns : 0, picked.has("expiry") ? size.expiryHolds : 0) + 2);
    const sides = [cluster, peer, floor].filter((s): s is Side => s !== undefined);
    // Connections first, while the servers' heaps hold nothing else.
    if (picked.has("conns")) await b.connections(cluster, users);
    if (picked.has("locks")) for (const s of sides) await b.drop(s, users, { label: `locks: ${size.lockBuyers} buyers, own seat each`, buyers: size.lockBuyers, seats: size.lockBuyers, seconds: size.lockSeconds, ownSeat: true });
    ratioToFloor();
    if (picked.has("drop")) for (const s of sides) await b.drop(s, users, { label: `drop: ${size.dropBuyers} buyers, random seats of ${size.dropSeats}`, buyers: size.dropBuyers, seats: size.dropSeats, seconds: size.dropSeconds, ownSeat: false });
    ratioToFloor();
    if (picked.has("hot"))
      for (const buyers of size.hotBuyers)
        for (const s of sides) await b.drop(s, users, { label: `hot: ${buyers} buyers on one event, own seat each, private Redis`, buyers, seats: buyers, seconds: size.hotSeconds, ownSeat: true, hot: true });
    ratioToFloor();
    if (picked.has("shards")) {
      const buyers = size.hotBuyers[1]!;
      await b.drop(cluster, users, { label: `shards: ${buyers} buyers on one event, own seat each`, buyers, seats: buyers, seconds: size.hotSeconds, ownSeat: true, hot: true });
      await b.drop(cluster, users, { label: `shards: ${buyers} buyers over ${size.shardEvents} events, own seat each`, buyers, seats: buyers, seconds: size.hotSeconds, ownSeat: true, hot: true, events: size.shardEvents });
    }
    if (picked.has("fanout")) for (const mode of ["per-change", "changes"] as const) await b.fanOut(cluster, users, mode);
    if (picked.has("sections")) await b.sections(cluster, users);
    if (picked.has("expiry")) await b.expiry(cluster, users);
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    // These servers are stopped on purpose: a later cluster (the hot scenario's) must not count them as dead.
    for (let i = servers.length - 1; i >= 0; i--) if (procs.includes(servers[i]!.proc)) servers.splice(i, 1);
    await sleep(1000);
  }
}

async function main() {
  const env: TestEnv = await createTestEnv({ LOG_LEVEL: "warn" });
  const gens = new GenPool(GENS);
  try {
    // The main cluster, only when one of its scenarios runs (`--only queue` or `--only chat` need none of it).
    if (MAIN_SCENARIOS.some((s) => ONLY.has(s))) await mainScenarios(env, gens, new Set([...ONLY].filter((s) => s !== "hot" && s !== "shards")));
    // One hot event: its own cluster and peers on a private Redis, after the main one stopped.
    if (ONLY.has("hot")) await hotScenario(gens);
    // Redis Cluster against standalone: worlds of its own, after the others stopped.
    if (ONLY.has("shards")) await shardsScenario(gens);
    // Seat-map reads (docs/reliability.md, round two, findings 2 and 3): load-tests/map-read-bench.ts,
    // an API and a ws-node of its own.
    if (ONLY.has("reads")) await mapReadBench({ env, quick: Q, push: pushRow });
    // The buyer page on a stadium, in Chromium: load-tests/page-bench.ts, an API and a ws-node of its own.
    if (ONLY.has("page")) await pageBench({ env, quick: Q, push: pushRow });
    // The waiting room: load-tests/queue-bench.ts, with its own cluster, after the main one stopped.
    if (ONLY.has("queue")) await queueBench({ env, gens, quick: Q, push: pushRow });
  } catch (err) {
    // A scenario that threw (a server died) still leaves the table of those that finished.
    if (rows.length) report();
    throw err;
  } finally {
    gens.close();
    await env.close();
  }
  report();
  const failed = rows.flatMap((r) => r.checks.filter((c) => !c.ok && !c.informational && !c.target).map((c) => `${r.scenario} (${r.side}): ${c.name}: ${c.detail}`));
  // Chat at concert scale runs its own cluster: load-tests/chat-bench.ts, quick-sized with --quick.
  if (ONLY.has("chat") && !(await chatBench())) failed.push("chat: load-tests/chat-bench.ts failed (see its output above)");
  if (failed.length) {
    console.error(`\nFAILED checks:\n  ${failed.join("\n  ")}`);
    process.exit(1);
  }
  process.exit(0);
}

/**
 * The `hot` scenario's world: a private redis-server (its `INFO cpu` is this scenario's alone), a
 * test env (database, prefix) pointing at it, and the cluster and peers of mainScenarios on it.
 */
async function hotScenario(gens: GenPool) {
  const port = await freePort();
  const redis = await startRedis(port);
  const env = await createTestEnv({ LOG_LEVEL: "warn", REDIS_URL: `redis://127.0.0.1:${port}` });
  try {
    await mainScenarios(env, gens, new Set(["hot"]));
  } finally {
    await env.close();
    await killHard(redis);
  }
}

/**
 * `--redis-cluster` (`shards`): the hot lock path, one event and then many, on a private
 * standalone redis-server, on a local Redis Cluster of three masters and three replicas (Debian's
 * redis-server, test/support/redis-cluster.ts), and on the cluster with group commit off
 * (SEAT_BATCH_MAX=1: one publish per change instead of per batch), in that order, same buyers. The
 * main scenarios that run (locks, drop, fan-out, …) run again on the cluster, rows marked so.
 * Redis CPU is summed over every Redis process (replicas included: replication is part of the
 * price); the hottest process is reported beside it.
 */
async function shardsScenario(gens: GenPool) {
  const port = await freePort();
  const redis = await startRedis(port);
  const env = await createTestEnv({ LOG_LEVEL: "warn", REDIS_URL: `redis://127.0.0.1:${port}` });
  try {
    await mainScenarios(env, gens, new Set(["shards"]), "standalone Redis");
  } finally {
    await env.close();
    await killHard(redis);
  }
  const cluster = await startRedisCluster();
  const cenv = await createTestEnv({ LOG_LEVEL: "warn", REDIS_CLUSTER_NODES: cluster.seeds });
  try {
    // The main scenarios picked (drop, fan-out, …) again on the cluster, beside the shards rows.
    await mainScenarios(cenv, gens, new Set(["shards", ...MAIN_SCENARIOS.filter((m) => ONLY.has(m))]), "Redis Cluster 3+3");
    await mainScenarios(cenv, gens, new Set(["shards"]), "Redis Cluster 3+3, SEAT_BATCH_MAX=1", { SEAT_BATCH_MAX: "1" });
  } finally {
    await cenv.close();
    await cluster.stop();
  }
}

/** Runs the chat scenarios (join storm, messaging) as a child process; true when it passed. */
function chatBench(): Promise<boolean> {
  const quick: Record<string, string> = Q ? { BENCH_CHAT_MEMBERS: "200", BENCH_CHAT_RATE: "50", BENCH_CHAT_SECONDS: "3" } : {};
  const child = spawn(process.execPath, ["--import", "tsx", "load-tests/chat-bench.ts"], { cwd: root, env: { ...quick, ...process.env }, stdio: "inherit" });
  return new Promise((resolve) => child.on("exit", (code: number | null) => resolve(code === 0)));
}

class Bench {
  private readonly logger = createLogger("bench", "warn");
  constructor(
    private readonly env: TestEnv,
    private readonly gens: GenPool,
    private readonly apiPort: number,
    /** Appended to every row's scenario name (the Redis Cluster pass of `--redis-cluster`). */
    private readonly where = "",
  ) {}

  /** Runs `f` as the measured phase: Redis stats reset, CPU of every process sampled before and after. */
  async measure<T>(side: Side, f: () => Promise<T>): Promise<{ r: T; cost: Cost }> {
    const m = await measureCost(this.env.redis, { nodes: side.nodePids, worker: side.workerPids, api: side.apiPids, gens: this.gens.pids }, f);
    assertServersUp();
    return m;
  }

  private async apiMap(eventId: string): Promise<{ seq: number; taken: Record<string, string>; sections: Map<string, string> }> {
    const res = await fetch(`http://127.0.0.1:${this.apiPort}/api/events/${eventId}/seats`);
    if (!res.ok) throw new Error(`GET /api/events/${eventId}/seats: ${res.status}`);
    const body = (await res.json()) as { seq: number; seats: { id: string; section: string | null; state: string }[] };
    const taken: Record<string, string> = {};
    const sections = new Map<string, string>();
    for (const s of body.seats) {
      if (s.state !== "available") taken[s.id] = s.state;
      if (s.section) sections.set(s.id, s.section);
    }
    return { seq: body.seq, taken, sections };
  }

  /** Jobs still delayed in BullMQ queues under the bench's prefix (a job per hold stays until its deadline). */
  private async delayedJobs(): Promise<number> {
    const redis = this.env.redis;
    let n = 0;
    await scanKeys(redis, `${this.env.config.REDIS_PREFIX}*:delayed`, async (found) => {
      for (const k of found) if ((await redis.type(k)) === "zset") n += await redis.zcard(k);
    });
    return n;
  }


  private topic(side: Side, eventId: string) {
    return side.name === "socket.io" ? eventId : `seats:${eventId}`;
  }

  /** Closed-loop buyers: `locks` (own seat each, continuity) and `drop` (random seats, contention). */
  async drop(side: Side, users: BenchUser[], o: { label: string; buyers: number; seats: number; seconds: number; ownSeat: boolean; hot?: boolean; events?: number }) {
    const seats = plainSeats(o.seats);
    // `events` > 1 (the shards scenario): buyer i is on event i mod events, own seat each, so a seat
    // is still used by one buyer only and the checks below hold over the union of the events' maps.
    const eventIds: string[] = [];
    for (let e = 0; e < (o.events ?? 1); e++) eventIds.push(side.name === "cluster" ? await createEvent(this.env, seats) : `ev-${Math.random().toString(36).slice(2)}`);
    const eventId = eventIds[0]!;
    const specs: ClientSpec[] = Array.from({ length: o.buyers }, (_, i) => ({
      kind: side.name === "socket.io" ? "sio" : "phx",
      port: side.ports[i % 2]!,
      token: users[i]!.token,
      user: `u${i}`,
      topic: this.topic(side, eventIds[i % eventIds.length]!),
      join: { changes: true },
      role: "buyer",
      label: seats[i % seats.length],
    }));
    const dealt = this.gens.deal(specs);
    await this.gens.all("connect", (i) => ({ specs: dealt[i] }));
    const jobsBefore = side.name === "cluster" ? await this.delayedJobs() : 0;
    type BuyerResult = { ms: number; rtt: { counts: number[]; max: number }; locks: number; refused: number; unlocks: number; failedUnlocks: number; intervals: number[]; held: string[]; dropped: number };
    const batches0 = side.name === "cluster" && o.hot ? await batchSizes(side.ports) : null;
    const pubsub0 = side.name === "cluster" && o.hot ? await pubsubReceived(side.ports) : null;
    const { r: results, cost } = await this.measure(side, () => this.gens.all<BuyerResult>("buyers", () => ({ seats, until: now() + o.seconds * 1000, release: true, ownSeat: o.ownSeat })));
    const batches = batches0 ? diffBuckets(await batchSizes(side.ports), batches0) : null;
    const pubsub = pubsub0 ? await pubsubReceived(side.ports) : null;
    const rtt = new Histogram();
    const locks = sumOf(results, (r) => r.locks);
    const refused = sumOf(results, (r) => r.refused);
    const unlocks = sumOf(results, (r) => r.unlocks);
    const failedUnlocks = sumOf(results, (r) => r.failedUnlocks);
    const dropped = sumOf(results, (r) => r.dropped);
    const ms = Math.max(0, ...results.map((r) => r.ms));
    const held: string[] = [];
    const bySeat = new Map<number, [number, number][]>();
    for (const r of results) {
      rtt.merge(r.rtt);
      held.push(...r.held);
      for (let i = 0; i < r.intervals.length; i += 3) {
        const list = bySeat.get(r.intervals[i]!) ?? [];
        list.push([r.intervals[i + 1]!, r.intervals[i + 2]!]);
        bySeat.set(r.intervals[i]!, list);
      }
    }
    const roundTrips = locks + refused + unlocks + failedUnlocks;
    const checks: Check[] = [];
    const figures: Row["figures"] = {
      buyers: o.buyers,
      seconds: ms / 1000,
      roundTripsPerS: (roundTrips * 1000) / ms,
      locksPerS: (locks * 1000) / ms,
      refused,
      p50Ms: rtt.pct(0.5),
      p99Ms: rtt.pct(0.99),
      serverCpuUsPerRoundTrip: (cost.serverMs * 1000) / roundTrips,
      redisUsPerLock: cost.redisUs / locks,
      redisCpuUsPerLock: (cost.redisCpuMs * 1000) / locks,
      redisUsPerRoundTrip: cost.redisUs / roundTrips,
      redisCpuUsPerRoundTrip: (cost.redisCpuMs * 1000) / roundTrips,
      nodesCpuUsPerRoundTrip: (cost.nodesMs * 1000) / roundTrips,
      droppedClients: dropped,
    };
    // Pub/sub messages out of Redis per seat change: each SPUBLISH (one per script run, one per
    // group-committed batch) goes to the event's subscribed nodes, here the two ws-nodes. The peers
    // publish otherwise (Socket.IO's adapter, the floor none), so only the cluster's rows have it.
    const changes = locks + unlocks;
    const publishes = cost.redisTop.spublish?.calls ?? 0;
    if (o.hot && changes > 0 && side.name === "cluster") {
      figures.publishesPerChange = publishes / changes;
      figures.messagesOutPerChange = (publishes * side.ports.length) / changes;
      // Bytes: what the ws-nodes' sharded subscribers received (sdc_pubsub_bytes_received_total, each
      // push as Redis wrote it), i.e. the pub/sub bytes out of the event's shard; replies not counted.
      if (pubsub && pubsub0) {
        figures.pubsubMessagesReceivedPerChange = (pubsub.messages - pubsub0.messages) / changes;
        figures.pubsubBytesOutPerChange = (pubsub.bytes - pubsub0.bytes) / changes;
      }
      figures.redisHottestCpuShare = cost.redisCpuMs > 0 ? cost.redisCpuMaxServerMs / cost.redisCpuMs : null;
    }
    let batchNote = "";
    if (batches) {
      figures.batchesMean = batches.count > 0 ? batches.sum / batches.count : null;
      figures.batchSizes = batches.text;
      batchNote = `; batches: mean ${f1(figures.batchesMean as number)} (${batches.text})`;
    }
    // The baseline's own failures are figures, not failures of this project's run.
    if (side.name === "cluster") checks.push({ name: "no client dropped", ok: dropped === 0, detail: `${dropped} buyers lost their connection` });
    if (side.name === "cluster") {
      // Double holds from the replies: per seat, granted locks ordered by seq must not overlap.
      let doubles = 0;
      let example = "";
      for (const [seat, list] of bySeat) {
        list.sort((a, b) => a[0] - b[0]);
        for (let i = 1; i < list.length; i++) {
          const prev = list[i - 1]!;
          if (prev[1] === -1 || list[i]![0] < prev[1]) {
            doubles++;
            example ||= `${seats[seat]}: locked at seq ${list[i]![0]} while held since ${prev[0]}`;
          }
        }
      }
      // …and from the final state: the API's locked seats are exactly those the buyers still hold.
      const final = await this.apiMap(eventId);
      for (const other of eventIds.slice(1)) Object.assign(final.taken, (await this.apiMap(other)).taken);
      const heldSet = new Map<string, number>();
      for (const s of held) heldSet.set(s, (heldSet.get(s) ?? 0) + 1);
      let stateBad = "";
      for (const [s, n] of heldSet) {
        if (n > 1) doubles++;
        if (final.taken[s] !== "locked") stateBad ||= `${s} held by a buyer, API says ${final.taken[s] ?? "available"}`;
      }
      for (const [s, st] of Object.entries(final.taken)) if (!heldSet.has(s)) stateBad ||= `${s} is ${st} in the API, held by nobody`;
      checks.push({ name: "double holds", ok: doubles === 0, detail: doubles ? `${doubles} (${example})` : "0" });
      checks.push({ name: "final map", ok: !stateBad, detail: stateBad || "agrees with the API" });
      figures.doubleHolds = doubles;
      figures.holdJobsLeft = (await this.delayedJobs()) - jobsBefore;
    }
    await this.gens.all("closeAll");
    const bytesNote = figures.pubsubBytesOutPerChange !== undefined ? `, ${f1(figures.pubsubBytesOutPerChange as number)} bytes` : "";
    const pubNote = figures.messagesOutPerChange !== undefined ? `; ${(figures.messagesOutPerChange as number).toFixed(2)} pub/sub messages out per seat change${bytesNote}` : "";
    const hottest = o.events && figures.redisHottestCpuShare ? `; hottest Redis process ${Math.round((figures.redisHottestCpuShare as number) * 100)} % of Redis CPU` : "";
    const summary = `${f1(figures.roundTripsPerS as number)} round trips/s, p50 ${f1(rtt.pct(0.5))} ms, p99 ${f1(rtt.pct(0.99))} ms${batchNote}${pubNote}${hottest}`;
    // The hot event's Redis is private: its CPU per round trip is the figure, not commandstats.
    const redisCell = o.hot ? `CPU ${f1(figures.redisCpuUsPerRoundTrip as number)} µs/round trip (commands ${f1(figures.redisUsPerRoundTrip as number)})` : undefined;
    const cpuCell = o.hot ? `${f1(figures.serverCpuUsPerRoundTrip as number)} µs/round trip (ws-nodes ${f1(figures.nodesCpuUsPerRoundTrip as number)})` : undefined;
    this.push({ scenario: o.label, side: side.name, summary, figures, cost, checks, ...(redisCell ? { redisCell, cpuCell } : {}) });
  }

  /** The author of seat changes: toggles seats at `rate`/s for `seconds`; returns [seq, repliedAt, section] per change. */
  private async author(side: Side, user: BenchUser, eventId: string, pool: string[], rate: number, seconds: number, sectionIdx: (seat: string) => number) {
    const c = new Client({ kind: "phx", port: side.ports[0]!, token: user.token, topic: `seats:${eventId}`, join: { changes: true }, role: "buyer" });
    await c.open();
    if (!(await c.join())) throw new Error("author could not join");
    const held = new Set<string>();
    const changes: number[] = [];
    let errors = 0;
    const inflight: Promise<void>[] = [];
    const total = Math.round(rate * seconds);
    const t0 = now();
    let next = 0;
    let k = 0;
    while (next < total) {
      const due = Math.min(total, Math.floor(((now() - t0) * rate) / 1000) + 1);
      for (; next < due; next++) {
        const seat = pool[k++ % pool.length]!;
        const op = held.has(seat) ? c.unlock(seat) : c.lock(seat);
        if (held.has(seat)) held.delete(seat);
        else held.add(seat);
        inflight.push(
          op.then((r) => {
            if (r.ok) changes.push(r.seq, now(), sectionIdx(seat));
            else errors++;
          }),
        );
      }
      await sleep(5);
    }
    // Bounded: on an overloaded side replies can trail by minutes; what has not come back by then
    // counts as refused (and the run fails its checks), rather than stretching the run.
    const replied = await Promise.race([Promise.all(inflight).then(() => true), sleep(size.drainMs).then(() => false)]);
    const ms = now() - t0;
    c.close();
    if (!replied) errors += total - changes.length / 3 - errors;
    return { changes: [...changes], errors, ms };
  }

  /** Waits until every parser has seen its stream's last change, or the drain time is up. */
  private async drain(changes: number[], sections: string[]) {
    const targets: Record<string, number> = { "": -1 };
    for (let i = 0; i < changes.length; i += 3) {
      targets[""] = Math.max(targets[""]!, changes[i]!);
      const s = sections[changes[i + 2]!];
      if (s) targets[s] = Math.max(targets[s] ?? -1, changes[i]!);
    }
    const until = now() + size.drainMs;
    for (;;) {
      const p = await this.gens.all<{ pending: number }>("progress", () => ({ targets }));
      if (p.every((x) => x.pending === 0) || now() > until) return;
      await sleep(100);
    }
  }

  private async watchers(specs: ClientSpec[]) {
    const dealt = this.gens.deal(specs);
    const r = await this.gens.all<{ opened: number; failed: number; refused: number }>("connect", (i) => ({ specs: dealt[i] }));
    assertServersUp();
    const failed = sumOf(r, (x) => x.failed + x.refused);
    if (failed) console.warn(`${failed} of ${specs.length} watchers could not connect or join`);
  }

  private async collect(changes: number[], sections: string[], expected: Record<string, string>, only?: "section" | "whole") {
    type W = { lat: { counts: number[]; max: number }; watchers: number; joinBytes: number; frames: number; bytes: number; delivered: number; lost: number; gaps: number; errors: number; closed: number; parsers: number; converged: number; mismatched: number; behind: number; example: string };
    const parts = await this.gens.all<W>("watchStats", () => ({ changes, sections, expected, only }));
    const lat = new Histogram();
    const sum = { watchers: 0, joinBytes: 0, frames: 0, bytes: 0, delivered: 0, lost: 0, gaps: 0, errors: 0, closed: 0, parsers: 0, converged: 0, mismatched: 0, behind: 0, example: "" };
    for (const p of parts) {
      lat.merge(p.lat);
      for (const k of Object.keys(sum) as (keyof typeof sum)[]) if (k !== "example") (sum[k] as number) += p[k] as number;
      sum.example ||= p.example;
    }
    return { lat, ...sum };
  }

  async fanOut(side: Side, users: BenchUser[], mode: "per-change" | "changes") {
    const pool = plainSeats(size.fanSeats);
    const eventId = await createEvent(this.env, pool, { holdMaxSeats: pool.length + 10, holdTtlMs: 3_600_000 });
    const specs: ClientSpec[] = Array.from({ length: size.fanWatchers }, (_, i) => ({
      kind: "phx",
      port: side.ports[i % 2]!,
      topic: `seats:${eventId}`,
      join: mode === "changes" ? { changes: true } : {},
      role: i < size.fanParsers ? "parser" : "counter",
    }));
    await this.watchers(specs);
    const { r: a, cost } = await this.measure(side, async () => {
      const a = await this.author(side, users[users.length - 1]!, eventId, pool, size.fanRate, size.fanSeconds, () => 0);
      await this.drain(a.changes, []);
      return a;
    });
    const final = await this.apiMap(eventId);
    const w = await this.collect(a.changes, [], final.taken);
    await this.gens.all("closeAll");
    const n = a.changes.length / 3;
    const checks: Check[] = [
      { name: "lost changes", ok: w.lost === 0 && w.behind === 0 && w.gaps === 0, detail: `${w.lost} changes never reached a parser; ${w.behind} parsers behind at the end; ${w.gaps} gaps in seq` },
      { name: "maps equal the API", ok: w.mismatched === 0 && w.converged === w.parsers, detail: `${w.converged}/${w.parsers} converged${w.example ? `; e.g. ${w.example}` : ""}` },
      { name: "author", ok: a.errors === 0, detail: `${a.errors} changes refused` },
    ];
    // At full size per-change events are W × changes frames (5,000,000/s): the comparison run shows
    // how far they fall behind; only `changes` (and every quick run) must converge.
    if (mode === "per-change" && !Q) for (const c of checks) c.informational = true;
    const figures: Row["figures"] = {
      watchers: size.fanWatchers,
      parsers: w.parsers,
      changes: n,
      changesPerS: (n * 1000) / a.ms,
      delivered: w.delivered,
      deliveredPerS: (w.delivered * 1000) / cost.wallMs,
      frames: w.frames,
      bytes: w.bytes,
      bytesPerWatcherPerS: w.bytes / size.fanWatchers / (cost.wallMs / 1000),
      joinBytesPerWatcher: w.joinBytes / size.fanWatchers,
      p50Ms: w.lat.pct(0.5),
      p99Ms: w.lat.pct(0.99),
      maxMs: w.lat.max,
      serverCpuUsPerDeliveredChange: (cost.serverMs * 1000) / w.delivered,
      serverCpuUsPerFrame: (cost.serverMs * 1000) / w.frames,
      serverCpuUsPerChange: (cost.serverMs * 1000) / n,
      redisUsPerChange: cost.redisUs / n,
      gaps: w.gaps,
      closedSockets: w.closed,
    };
    const summary = `${f1(figures.deliveredPerS as number)} seat changes delivered/s, ${f1(w.frames / size.fanWatchers)} frames/watcher, p50 ${f1(w.lat.pct(0.5))} ms, p99 ${f1(w.lat.pct(0.99))} ms`;
    this.push({ scenario: `fan-out: ${size.fanWatchers} watchers, ${size.fanRate} changes/s × ${size.fanSeconds} s, ${mode}`, side: side.name, summary, figures, cost, checks });
  }

  async sections(side: Side, users: BenchUser[]) {
    const names = sectionNames(size.secSections);
    const seats = venue(size.secSections, size.secRows, size.secPerRow);
    const eventId = await createEvent(this.env, seats, { holdMaxSeats: 100_000, holdTtlMs: 3_600_000 });
    // The author changes 50 seats of each section, round-robin over sections.
    const perSection = Math.min(50, size.secRows * size.secPerRow);
    const pool: string[] = [];
    for (let k = 0; k < perSection; k++) for (let s = 0; s < names.length; s++) pool.push(seats[s * size.secRows * size.secPerRow + k]!);
    // One watcher in twenty watches the whole venue, so the saving is a ratio from one run.
    const specs: ClientSpec[] = Array.from({ length: size.secWatchers }, (_, i) => {
      const whole = i % 20 === 19;
      const section = names[i % names.length]!;
      return {
        kind: "phx",
        port: side.ports[i % 2]!,
        topic: `seats:${eventId}`,
        join: whole ? { changes: true } : { changes: true, sections: [section] },
        role: i < size.fanParsers ? "parser" : "counter",
        section: whole ? undefined : section,
      };
    });
    const secIdx = new Map(names.map((n, i) => [n, i]));
    await this.watchers(specs);
    const { r: a, cost } = await this.measure(side, async () => {
      const a = await this.author(side, users[users.length - 2]!, eventId, pool, size.fanRate, size.fanSeconds, (seat) => secIdx.get(sectionOf(seat))!);
      await this.drain(a.changes, names);
      return a;
    });
    const final = await this.apiMap(eventId);
    const sec = await this.collect(a.changes, names, final.taken, "section");
    const whole = await this.collect(a.changes, names, final.taken, "whole");
    await this.gens.all("closeAll");
    const n = a.changes.length / 3;
    const delivered = sec.delivered + whole.delivered;
    const checks: Check[] = [
      {
        name: "lost changes",
        ok: sec.lost + whole.lost === 0 && sec.behind + whole.behind === 0 && sec.gaps + whole.gaps === 0,
        detail: `${sec.lost + whole.lost} lost; ${sec.behind + whole.behind} parsers behind; ${sec.gaps + whole.gaps} gaps in seq`,
      },
      {
        name: "maps equal the API",
        ok: sec.mismatched + whole.mismatched === 0 && sec.converged + whole.converged === sec.parsers + whole.parsers,
        detail: `${sec.converged + whole.converged}/${sec.parsers + whole.parsers} converged${sec.example || whole.example ? `; e.g. ${sec.example || whole.example}` : ""}`,
      },
    ];
    const per = (x: number, k: number) => (k ? x / k : NaN);
    const figures: Row["figures"] = {
      seats: seats.length,
      sections: names.length,
      watchers: size.secWatchers,
      changes: n,
      delivered,
      sectionJoinBytes: per(sec.joinBytes, sec.watchers),
      wholeJoinBytes: per(whole.joinBytes, whole.watchers),
      sectionBytesPerWatcher: per(sec.bytes, sec.watchers),
      wholeBytesPerWatcher: per(whole.bytes, whole.watchers),
      sectionFramesPerWatcher: per(sec.frames, sec.watchers),
      wholeFramesPerWatcher: per(whole.frames, whole.watchers),
      p50Ms: sec.lat.pct(0.5),
      p99Ms: sec.lat.pct(0.99),
      serverCpuUsPerDeliveredChange: (cost.serverMs * 1000) / delivered,
      serverCpuUsPerFrame: (cost.serverMs * 1000) / (sec.frames + whole.frames),
      closedSockets: sec.closed + whole.closed,
    };
    const summary = `join ${f1((figures.sectionJoinBytes as number) / 1024)} KiB (whole venue ${f1((figures.wholeJoinBytes as number) / 1024)} KiB), ${f1(figures.sectionBytesPerWatcher as number)} B/watcher (whole ${f1(figures.wholeBytesPerWatcher as number)}), p99 ${f1(sec.lat.pct(0.99))} ms`;
    this.push({ scenario: `sections: ${size.secWatchers} watchers, ${seats.length} seats in ${names.length} sections, ${size.fanRate} changes/s`, side: side.name, summary, figures, cost, checks });
  }

  async connections(side: Side, users: BenchUser[]) {
    const eventId = await createEvent(this.env, plainSeats(10));
    const pid = side.nodePids[0]!;
    const settledRss = async () => {
      const readings: number[] = [];
      for (let i = 0; i < 5; i++) {
        process.kill(pid, "SIGUSR2");
        await sleep(400);
        readings.push(rssKb(pid));
      }
      return median(readings);
    };
    const before = await settledRss();
    const specs: ClientSpec[] = Array.from({ length: size.conns }, (_, i) => ({ kind: "phx", port: side.ports[0]!, token: users[i]!.token, topic: `seats:${eventId}`, join: { changes: true }, role: "idle" }));
    const dealt = this.gens.deal(specs);
    const nodeProcs = servers.filter((x) => side.nodePids.includes(x.proc.pid!)).map((x) => x.proc);
    const warnings0 = corkWarningsOf(nodeProcs);
    const { r, cost } = await this.measure(side, () => this.gens.all<{ opened: number; failed: number; refused: number; connectMs: number; joinMs: number }>("connect", (i) => ({ specs: dealt[i] })));
    await sleep(1000);
    const warnings = corkWarningsOf(nodeProcs) - warnings0;
    const after = await settledRss();
    const opened = sumOf(r, (x) => x.opened);
    const failed = sumOf(r, (x) => x.failed + x.refused);
    const connectMs = Math.max(...r.map((x) => x.connectMs));
    const joinMs = Math.max(...r.map((x) => x.joinMs));
    await this.gens.all("closeAll");
    const figures: Row["figures"] = {
      sockets: size.conns,
      opened,
      failed,
      connectsPerS: (opened * 1000) / connectMs,
      joinsPerS: (opened * 1000) / joinMs,
      rssBeforeKiB: before,
      rssAfterKiB: after,
      rssPerSocketKiB: (after - before) / opened,
      serverCpuUsPerConnection: (cost.nodesMs * 1000) / opened,
      corkWarnings: warnings,
    };
    const summary = `${f1(figures.connectsPerS as number)} authenticated connects/s, ${f1(figures.joinsPerS as number)} joins/s, ${f1(figures.rssPerSocketKiB as number)} KiB RSS per socket after GC, ${warnings} uWS corked-callback warnings on stderr`;
    this.push({
      scenario: `connections: ${size.conns} idle authenticated sockets on one node (joined)`,
      side: side.name,
      summary,
      figures,
      cost,
      checks: [
        { name: "all connected", ok: failed === 0, detail: `${failed} failed` },
        { name: "no corked-callback warning", ok: warnings === 0, detail: `${warnings} lines for ${opened} connects`, target: true },
      ],
    });
  }

  async expiry(side: Side, users: BenchUser[]) {
    const n = size.expiryHolds;
    const seats = plainSeats(n);
    const eventId = await createEvent(this.env, seats, { holdTtlMs: size.expiryTtlMs, holdMaxSeats: 1 });
    const owners = Math.min(size.expiryOwners, n);
    const specs: ClientSpec[] = Array.from({ length: owners }, (_, i) => ({ kind: "phx", port: side.ports[i % 2]!, token: users[i]!.token, topic: `seats:${eventId}`, join: { changes: true }, role: "owner", label: users[i]!.id }));
    const dealt = this.gens.deal(specs);
    await this.gens.all("connect", (i) => ({ specs: dealt[i] }));
    // Every release as the ws-nodes hear it: the event's channel, timestamped on arrival.
    // A subscriber connection as the nodes open one (on a Redis Cluster: sharded subscribers).
    const sub = connectRedis(this.env.config, "subscriber");
    const released = new Map<string, number>();
    let otherReleases = 0;
    await sub.ssubscribe(this.env.keys.event(eventId).channel);
    sub.on("smessage", (_ch: string, msg: string) => {
      const t = now();
      for (const ev of (JSON.parse(msg) as { ev?: { t: string; u?: string; why?: string }[] }).ev ?? []) {
        if (ev.t !== "unlocked" || !ev.u) continue;
        if (ev.why === "expired") released.set(ev.u, t);
        else otherReleases++;
      }
    });
    // The holds are taken here, through the seat service as a ws-node takes them (with the hold
    // job producer, while the product has one), so 10,000 holds are due within about a second.
    const bull = duplicateRedis(this.env.redis, { maxRetriesPerRequest: null });
    const HoldJobs = (jobsLib as Record<string, unknown>).HoldJobs as (new (c: unknown, p: string) => never) | undefined;
    const jobs = HoldJobs ? new HoldJobs(bull, this.env.keys.bullPrefix) : undefined;
    const service = new SeatService({ redis: this.env.redis, keys: this.env.keys, config: this.env.config, logger: this.logger, db: this.env.db.db, jobs });
    await service.events.ensureEventLoaded(eventId);
    const deadlines = new Map<string, number>();
    const { r: lockMs, cost } = await this.measure(side, async () => {
      const t0 = now();
      let i = 0;
      await Promise.all(
        Array.from({ length: 256 }, async () => {
          while (i < n) {
            const k = i++;
            const r = await service.lock({ eventId, userId: users[k]!.id, seatId: seats[k]! });
            deadlines.set(users[k]!.id, r.deadline);
          }
        }),
      );
      const lockMs = now() - t0;
      const last = Math.max(...deadlines.values());
      while (released.size < n && now() < last + size.drainMs) await sleep(50);
      return lockMs;
    });
    await sleep(500);
    const ownerSeen = (await this.gens.all<[string, number][]>("ownerStats")).flat();
    await this.gens.all("closeAll");
    await sub.quit();
    await bull.quit();
    const lag = new Histogram();
    for (const [u, t] of released) lag.add(t - deadlines.get(u)!);
    const ownerLag = new Histogram();
    let ownersHeard = 0;
    for (const [u, t] of ownerSeen)
      if (t > 0) {
        ownersHeard++;
        ownerLag.add(t - deadlines.get(u)!);
      }
    const dl = [...deadlines.values()];
    const figures: Row["figures"] = {
      holds: n,
      lockPhaseMs: lockMs,
      deadlineSpreadMs: Math.max(...dl) - Math.min(...dl),
      released: released.size,
      otherReleases,
      releaseP50Ms: lag.pct(0.5),
      releaseP99Ms: lag.pct(0.99),
      releaseMaxMs: lag.max,
      owners,
      ownersHeardDeleted: ownersHeard,
      deletedP50Ms: ownerLag.pct(0.5),
      deletedMaxMs: ownerLag.max,
      redisUsPerHold: cost.redisUs / n,
      redisCpuUsPerHold: (cost.redisCpuMs * 1000) / n,
      jobsLeft: await this.delayedJobs(),
    };
    const summary = `${released.size}/${n} released, after the deadline p50 ${f1(lag.pct(0.5))} ms, p99 ${f1(lag.pct(0.99))} ms, max ${f1(lag.max)} ms; owners' deleted max ${f1(ownerLag.max)} ms`;
    this.push({
      scenario: `expiry: ${n} holds due within ${f1((figures.deadlineSpreadMs as number) / 1000)} s`,
      side: side.name,
      summary,
      figures,
      cost,
      checks: [
        { name: "every hold released", ok: released.size === n, detail: `${released.size}/${n}` },
        { name: "every owner heard deleted", ok: ownersHeard === owners, detail: `${ownersHeard}/${owners}` },
      ],
    });
  }

  private push(row: Row) {
    pushRow(this.where && !row.scenario.includes(this.where) ? { ...row, scenario: `${row.scenario} [${this.where}]` } : row);
  }
}

/** The ws-nodes' `sdc_seat_batch_size` histogram, summed: cumulative count per bucket bound, sum, count. */
/** The sharded pub/sub messages and bytes the ws-nodes on `ports` received so far (their /metrics). */
async function pubsubReceived(ports: number[]): Promise<{ messages: number; bytes: number }> {
  const out = { messages: 0, bytes: 0 };
  for (const port of ports) {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${BENCH_METRICS_TOKEN}` } });
    if (!res.ok) throw new Error(`/metrics of the ws-node on ${port}: ${res.status}`);
    for (const line of (await res.text()).split("\n")) {
      let m = /^sdc_pubsub_messages_received_total\{kind="sharded"\} (\S+)/.exec(line);
      if (m) out.messages += Number(m[1]);
      else if ((m = /^sdc_pubsub_bytes_received_total\{kind="sharded"\} (\S+)/.exec(line))) out.bytes += Number(m[1]);
    }
  }
  return out;
}

async function batchSizes(ports: number[]): Promise<{ buckets: Map<string, number>; sum: number; count: number }> {
  const out = { buckets: new Map<string, number>(), sum: 0, count: 0 };
  for (const port of ports) {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${BENCH_METRICS_TOKEN}` } });
    if (!res.ok) throw new Error(`/metrics of the ws-node on ${port}: ${res.status}`);
    for (const line of (await res.text()).split("\n")) {
      let m = /^sdc_seat_batch_size_bucket\{le="([^"]+)"\} (\d+)/.exec(line);
      if (m) out.buckets.set(m[1]!, (out.buckets.get(m[1]!) ?? 0) + Number(m[2]));
      else if ((m = /^sdc_seat_batch_size_sum (\S+)/.exec(line))) out.sum += Number(m[1]);
      else if ((m = /^sdc_seat_batch_size_count (\S+)/.exec(line))) out.count += Number(m[1]);
    }
  }
  return out;
}

/** The batches of a phase (after − before), as "≤1: n, ≤2: n, …" of the non-empty buckets, with sum and count. */
function diffBuckets(after: Awaited<ReturnType<typeof batchSizes>>, before: Awaited<ReturnType<typeof batchSizes>>) {
  const parts: string[] = [];
  let below = 0;
  for (const [le, n] of after.buckets) {
    const cum = n - (before.buckets.get(le) ?? 0);
    if (cum > below) parts.push(`≤${le === "+Inf" ? "∞" : le}: ${cum - below}`);
    below = cum;
  }
  return { text: parts.join(", "), sum: after.sum - before.sum, count: after.count - before.count };
}

/** Adds a scenario's row: printed at once, and the JSON rewritten, so a run that dies half-way still leaves its figures. */
function pushRow(row: Row) {
  rows.push(row);
  if (opt.json) writeFileSync(opt.json, JSON.stringify({ meta: meta(), rows }, null, 2));
  const c = row.cost;
  console.log(
    `${row.scenario} [${row.side}]: ${row.summary}; server CPU ${f1(c.serverMs)} ms, generator CPU ${f1(c.genMs)} ms over ${f1(c.wallMs)} ms; ${row.checks.map((k) => `${k.name}: ${k.ok ? "ok" : k.target ? "missed" : "FAILED"}`).join(", ")}`,
  );
}

const meta = () => ({ at: new Date().toISOString(), node: process.version, cores: cpus().length, quick: Q, size, load: loadavg() });

function report() {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  console.log(`\n${line(["scenario", "side", "result", "server CPU", "Redis", "generator CPU", "checks"])}`);
  console.log(line(["---", "---", "---", "---", "---", "---", "---"]));
  for (const r of rows) {
    const f = r.figures;
    const c = r.cost;
    const serverCpu =
      r.cpuCell ??
      (f.serverCpuUsPerDeliveredChange != null
        ? `${f1(f.serverCpuUsPerDeliveredChange as number)} µs/delivered change`
        : f.serverCpuUsPerRoundTrip != null
          ? `${f1(f.serverCpuUsPerRoundTrip as number)} µs/round trip`
          : f.serverCpuUsPerConnection != null
            ? `${f1(f.serverCpuUsPerConnection as number)} µs/connection`
            : `${f1(c.serverMs)} ms`);
    const redis = r.redisCell ?? (f.redisUsPerLock != null ? `${f1(f.redisUsPerLock as number)} µs/lock (CPU ${f1(f.redisCpuUsPerLock as number)})` : f.redisUsPerHold != null ? `${f1(f.redisUsPerHold as number)} µs/hold` : f.redisUsPerChange != null ? `${f1(f.redisUsPerChange as number)} µs/change` : "—");
    const gen = `${f1((c.genMs / c.wallMs) * 100)} % of a core`;
    const checks =
      r.checks.map((k) => (k.target ? `${k.ok ? "✓" : "✗"} ${k.name}: ${k.detail}` : k.ok ? `✓ ${k.name}` : `${k.informational ? "(expected) " : ""}✗ ${k.name}: ${k.detail}`)).join("; ") || "—";
    console.log(line([r.scenario, r.side, r.summary, serverCpu, redis, gen, checks]));
  }
  const m = meta();
  console.log(`\n(${m.at}, node ${m.node}, ${m.cores} cores; servers, Redis and the load generator share them; Redis is shared with other clients)`);
  if (opt.json) writeFileSync(opt.json, JSON.stringify({ meta: m, rows }, null, 2));
}

await main();
