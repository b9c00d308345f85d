/**
 * The bench's result rows and what a measured phase cost, shared by bench.ts and the scenarios it
 * runs from other files (queue-bench.ts): server CPU from /proc, Redis time from `INFO commandstats`
 * after `CONFIG RESETSTAT`, the generator's CPU (this process plus its children).
 */
import type { Redis } from "@seatdrop/redis";
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
  /** CPU of the Redis server process over the phase (every client's commands, not only the bench's). */
  redisCpuMs: number;
  redisTop: Record<string, { calls: number; usec: number }>;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** Reported, but does not fail the run (the full-size per-change fan-out, which cannot keep up on two cores by design). */
  informational?: boolean;
  /** A target of the issue (reported as met or missed; never fails the run). */
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

/** Each Redis server's pid, read once (the hot scenario measures a private one beside the shared one). */
const redisPids = new WeakMap<Redis, number>();

/** Redis `INFO commandstats` as {command: {calls, usec}}, without the bench's own CONFIG and INFO. */
export async function commandStats(redis: Redis): Promise<Record<string, { calls: number; usec: number }>> {
  const out: Record<string, { calls: number; usec: number }> = {};
  for (const m of (await redis.info("commandstats")).matchAll(/cmdstat_([^:]+):calls=(\d+),usec=(\d+)/g)) {
    if (m[1] === "config" || m[1] === "info") continue;
    out[m[1]!] = { calls: Number(m[2]), usec: Number(m[3]) };
  }
  return out;
}

/** Runs `f` as the measured phase: Redis stats reset, CPU of every process sampled before and after. */
export async function measureCost<T>(redis: Redis, pids: Pids, f: () => Promise<T>): Promise<{ r: T; cost: Cost }> {
  let redisPid = redisPids.get(redis);
  if (redisPid === undefined) {
    redisPid = Number(/process_id:(\d+)/.exec(await redis.info("server"))?.[1] ?? 0);
    redisPids.set(redis, redisPid);
  }
  const redisCpu0 = cpuMsOf([redisPid]);
  await redis.config("RESETSTAT");
  const before = { t: now(), nodes: cpuMsOf(pids.nodes), worker: cpuMsOf(pids.worker), api: cpuMsOf(pids.api), gen: cpuMsOf(pids.gens), self: process.cpuUsage() };
  const r = await f();
  const self = process.cpuUsage(before.self);
  const nodesMs = cpuMsOf(pids.nodes) - before.nodes;
  const workerMs = cpuMsOf(pids.worker) - before.worker;
  const apiMs = cpuMsOf(pids.api) - before.api;
  const genMs = cpuMsOf(pids.gens) - before.gen + (self.user + self.system) / 1000;
  const redisCpuMs = cpuMsOf([redisPid]) - redisCpu0;
  const redisTop = await commandStats(redis);
  let redisUs = 0;
  let redisCalls = 0;
  for (const s of Object.values(redisTop)) {
    redisCalls += s.calls;
    redisUs += s.usec;
  }
  return { r, cost: { wallMs: now() - before.t, serverMs: nodesMs + workerMs + apiMs, nodesMs, workerMs, apiMs, genMs, redisUs, redisCalls, redisCpuMs, redisTop } };
}
