/**
 * The bench's result rows and what a measured phase cost, shared by bench.ts and the scenarios it
 * runs from other files (queue-bench.ts): server CPU from /proc, Redis time from `INFO commandstats`
 * after `CONFIG RESETSTAT`, the generator's CPU (this process plus its children).
 */
import { isCluster, type Redis } from "@seatdrop/redis";
import { now } from "./generator.ts";
import { cpuMsOf } from "./procs.ts";

/** What one side's processes cost during a measured phase. */
export interface Cost {
  wallMs: number;
  /** ws-nodes (or Socket.IO nodes), worker, API. */
  serverMs: number;
  nodesMs: number;
  workerMs: number;
  apiMs: number;
  /** This process plus the generator children. */
  genMs: number;
  redisUs: number;
  redisCalls: number;
  /** CPU of the Redis server process (every node of a Redis Cluster, summed) over the phase (every client's commands, not only the bench's). */
  redisCpuMs: number;
  /** The busiest Redis process's share of it (on a Redis Cluster, the hottest node). */
  redisCpuMaxServerMs: number;
  redisTop: Record<string, { calls: number; usec: number }>;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** Reported, but does not fail the run (the full-size per-change fan-out, which cannot keep up on two cores by design). */
  informational?: boolean;
  /** A performance target (reported as met or missed; never fails the run). */
  target?: boolean;
}

export interface Row {
  scenario: string;
  side: "cluster" | "socket.io" | "floor";
  summary: string;
  figures: Record<string, number | string | null>;
  cost: Cost;
  checks: Check[];
  /** The table's server CPU and Redis cells, when the scenario's own unit says more than the defaults. */
  cpuCell?: string;
  redisCell?: string;
}

/** The processes whose CPU a phase counts. */
export interface Pids {
  nodes: number[];
  worker: number[];
  api: number[];
  gens: number[];
}

/** The Redis servers' pids, read once (the hot scenario measures a private one beside the shared one; on a Redis Cluster, every node). */
const redisPids = new WeakMap<Redis, number[]>();

/** The servers a client talks to: itself, or each node of a Redis Cluster (masters and replicas). */
function serversOf(redis: Redis): Redis[] {
  return isCluster(redis) ? redis.nodes("all") : [redis];
}

/** Redis `INFO commandstats` as {command: {calls, usec}}, summed over a cluster's nodes, without the bench's own CONFIG and INFO. */
export async function commandStats(redis: Redis): Promise<Record<string, { calls: number; usec: number }>> {
  const out: Record<string, { calls: number; usec: number }> = {};
  for (const server of serversOf(redis)) {
    for (const m of (await server.info("commandstats")).matchAll(/cmdstat_([^:]+):calls=(\d+),usec=(\d+)/g)) {
      if (m[1] === "config" || m[1] === "info") continue;
      const s = (out[m[1]!] ??= { calls: 0, usec: 0 });
      s.calls += Number(m[2]);
      s.usec += Number(m[3]);
    }
  }
  return out;
}

/** Runs `f` as the measured phase: Redis stats reset, CPU of every process sampled before and after. */
export async function measureCost<T>(redis: Redis, pids: Pids, f: () => Promise<T>): Promise<{ r: T; cost: Cost }> {
  let pidsOfRedis = redisPids.get(redis);
  if (pidsOfRedis === undefined) {
    pidsOfRedis = await Promise.all(serversOf(redis).map(async (s) => Number(/process_id:(\d+)/.exec(await s.info("server"))?.[1] ?? 0)));
    redisPids.set(redis, pidsOfRedis);
  }
  const redisCpu0 = pidsOfRedis.map((pid) => cpuMsOf([pid]));
  for (const server of serversOf(redis)) await server.config("RESETSTAT");
  const before = { t: now(), nodes: cpuMsOf(pids.nodes), worker: cpuMsOf(pids.worker), api: cpuMsOf(pids.api), gen: cpuMsOf(pids.gens), self: process.cpuUsage() };
  const r = await f();
  const self = process.cpuUsage(before.self);
  const nodesMs = cpuMsOf(pids.nodes) - before.nodes;
  const workerMs = cpuMsOf(pids.worker) - before.worker;
  const apiMs = cpuMsOf(pids.api) - before.api;
  const genMs = cpuMsOf(pids.gens) - before.gen + (self.user + self.system) / 1000;
  const redisCpuEach = pidsOfRedis.map((pid, i) => cpuMsOf([pid]) - redisCpu0[i]!);
  const redisCpuMs = redisCpuEach.reduce((a, b) => a + b, 0);
  const redisTop = await commandStats(redis);
  let redisUs = 0;
  let redisCalls = 0;
  for (const s of Object.values(redisTop)) {
    redisCalls += s.calls;
    redisUs += s.usec;
  }
  return { r, cost: { wallMs: now() - before.t, serverMs: nodesMs + workerMs + apiMs, nodesMs, workerMs, apiMs, genMs, redisUs, redisCalls, redisCpuMs, redisCpuMaxServerMs: Math.max(0, ...redisCpuEach), redisTop } };
}

/** The sum of `f` over `items`: totals of the generators' per-process answers. */
export function sumOf<T>(items: readonly T[], f: (item: T) => number): number {
  return items.reduce((s, x) => s + f(x), 0);
}

/**
 * A scenario's size reader: `num(VAR, full, quick)` is the environment variable VAR when set, else
 * the full-run or the --quick figure.
 */
export function sizeReader(quick: boolean): (name: string, full: number, quickFigure: number) => number {
  return (name, full, quickFigure) => Number(process.env[name] ?? (quick ? quickFigure : full));
}
