/**
 * Server processes of the benchmark and what they cost: start and stop them, CPU from
 * /proc/<pid>/stat (user + system, all threads), RSS from /proc/<pid>/status.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { TestEnv } from "../../test/support/test-env.ts";

export const root = fileURLToPath(new URL("../..", import.meta.url));
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const HZ = 100;

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The environment of a server process started by a load test: the test env's database, Redis
 * prefix and secrets (so the processes and the test agree), quiet logs, and the caller's overrides.
 */
export function serverEnv(env: TestEnv, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: env.config.DATABASE_URL,
    REDIS_URL: env.config.REDIS_URL,
    // Empty (unset) unless the env is on a Redis Cluster; a value in this shell must not leak into a standalone run.
    REDIS_CLUSTER_NODES: (env.config.REDIS_CLUSTER_NODES ?? []).map((n) => `${n.host}:${n.port}`).join(","),
    REDIS_PREFIX: env.config.REDIS_PREFIX,
    JWT_SECRET: env.config.JWT_SECRET!,
    SERVICE_SECRET: env.config.SERVICE_SECRET!,
    LOG_LEVEL: "warn",
    ...overrides,
  };
}

/**
 * Starts `node [flags] --import tsx entry` and waits for its /healthz. `onLine` gets each line the
 * process writes to stdout (its log); without it stdout is discarded.
 */
export async function startServer(entry: string, env: Record<string, string>, port: number, nodeFlags: string[] = [], onLine?: (line: string) => void): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeFlags, "--import", "tsx", entry], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", onLine ? "pipe" : "ignore", "pipe"] });
  if (onLine && child.stdout) createInterface({ input: child.stdout }).on("line", onLine);
  // stderr is passed on, and uWS's "writes must be made from within a corked callback" lines are
  // counted (the conns scenario reports them per connect; the target is none).
  createInterface({ input: child.stderr! }).on("line", (line) => {
    if (line.includes("corked callback")) corkWarnings.set(child, (corkWarnings.get(child) ?? 0) + 1);
    process.stderr.write(`${line}\n`);
  });
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      /* still starting */
    }
    await sleep(100);
  }
  throw new Error(`${entry} did not start`);
}

/** uWS's corked-callback warning lines each server process has written to stderr so far. */
const corkWarnings = new WeakMap<ChildProcess, number>();
export const corkWarningsOf = (procs: ChildProcess[]) => procs.reduce((s, p) => s + (corkWarnings.get(p) ?? 0), 0);

/** CPU milliseconds (user + system) a process has used so far; 0 once it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may contain spaces: state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / HZ;
  } catch {
    return 0;
  }
}

export const cpuMsOf = (pids: number[]) => pids.reduce((s, p) => s + cpuMs(p), 0);

export function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};
