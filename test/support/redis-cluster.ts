import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort } from "./private-redis.ts";

const run = promisify(execFile);

/** One redis-server of a local cluster. */
export interface ClusterNode {
  port: number;
  proc: ChildProcess;
}

/** A local Redis Cluster: its seed list (`REDIS_CLUSTER_NODES`), its nodes, and how to stop it. */
export interface LocalRedisCluster {
  /** `127.0.0.1:<port>,…` of every node, as REDIS_CLUSTER_NODES takes it. */
  seeds: string;
  nodes: ClusterNode[];
  /** The master serving `key`'s slot now (it changes after a failover). */
  masterOf(key: string): Promise<number>;
  /** kill -9 of the node on `port` (a shard's master dying), resolved once the process is gone. */
  kill(port: number): Promise<void>;
  /**
   * Makes the master on `port`'s next writes miss its replicas, as asynchronous replication can:
   * each replica is stopped (SIGSTOP) and the master drops their links, so nothing more reaches
   * them. Returns `resume` (SIGCONT): call it after killing the master, and a replica that never
   * saw those writes is promoted.
   */
  isolateReplicas(port: number): Promise<() => void>;
  /** Ports of the replicas of the master on `port` (none once its shard has failed over and the old master is dead). */
  replicasOf(port: number): Promise<number[]>;
  stop(): Promise<void>;
}

/**
 * Starts `masters` masters with `replicas` replicas each from Debian's `redis-server` on free local
 * ports, joins them with `redis-cli --cluster create` (redis-tools), and resolves once every node
 * reports `cluster_state:ok`. No persistence (a node that dies comes back empty, as a crashed cache
 * does); a short node timeout (`nodeTimeoutMs`, default 2 s) so a failover happens within seconds.
 * Every wait is bounded; the data directory is removed by `stop()`.
 */
export async function startRedisCluster(o: { masters?: number; replicas?: number; ports?: number[]; nodeTimeoutMs?: number } = {}): Promise<LocalRedisCluster> {
  // A free port can be taken by another test file between the check and redis-server's bind (seen in
  // CI): with ports of its own choosing, a failed start is tried again on new ones, three times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(o);
    } catch (err) {
      if (o.ports || attempt >= 3) throw err;
    }
  }
}

async function startOnce(o: { masters?: number; replicas?: number; ports?: number[]; nodeTimeoutMs?: number }): Promise<LocalRedisCluster> {
  const masters = o.masters ?? 3;
  const total = masters * (1 + (o.replicas ?? 1));
  const ports = o.ports ?? (await Promise.all(Array.from({ length: total }, () => freePort())));
  const dir = mkdtempSync(join(tmpdir(), "sdc-redis-cluster-"));
  const nodes: ClusterNode[] = [];
  // If this process ends before stop() (a test file's hooks timed out, vitest ended the worker), the
  // nodes must not outlive it: they would load the machine and hold their ports for good.
  const killOnExit = () => {
    for (const n of nodes) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill("SIGKILL");
  };
  process.once("exit", killOnExit);
  const stop = async () => {
    process.removeListener("exit", killOnExit);
    await Promise.all(nodes.map((n) => killProc(n.proc)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) nodes.push({ port, proc: startNode(port, dir, o.nodeTimeoutMs ?? 2000) });
    await Promise.all(ports.map((p) => waitFor(() => ping(p), 10_000, `redis-server on ${p} to answer`)));
    const addresses = ports.map((p) => `127.0.0.1:${p}`);
    await run("redis-cli", ["--cluster", "create", ...addresses, "--cluster-replicas", String(o.replicas ?? 1), "--cluster-yes"], { timeout: 30_000 });
    await Promise.all(ports.map((p) => waitFor(() => clusterOk(p), 30_000, `node ${p} to report cluster_state:ok`)));
    // A replica that has not synced yet cannot be promoted (its data is too old to take over), so a
    // master killed before then leaves its slots down: wait until every replica's link is up.
    await Promise.all(ports.map((p) => waitFor(() => replicaSynced(p), 30_000, `node ${p}'s replication link`)));
  } catch (err) {
    await stop();
    throw err;
  }
  /** The ports of the replicas the master on `port` has (its ROLE). */
  const replicasOf = async (port: number): Promise<number[]> => {
    const r = new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await r.connect();
      const [, , replicas] = (await r.call("ROLE")) as [string, number, [string, string, string][]];
      return replicas.map(([, p]) => Number(p));
    } finally {
      r.disconnect();
    }
  };
  return {
    seeds: ports.map((p) => `127.0.0.1:${p}`).join(","),
    nodes,
    async masterOf(key) {
      const alive = nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
      const r = new Redis(alive[0]!.port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await r.connect();
        const slot = Number(await r.call("CLUSTER", "KEYSLOT", key));
        const ranges = (await r.call("CLUSTER", "SLOTS")) as [number, number, [string, number, string]][];
        const owner = ranges.find(([from, to]) => slot >= from && slot <= to);
        if (!owner) throw new Error(`no master serves slot ${slot}`);
        return Number(owner[2][1]);
      } finally {
        r.disconnect();
      }
    },
    async kill(port) {
      const n = nodes.find((x) => x.port === port);
      if (n) await killProc(n.proc);
    },
    replicasOf,
    async isolateReplicas(port) {
      const replicaPorts = await replicasOf(port);
      const r = new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await r.connect();
        const stopped = nodes.filter((n) => replicaPorts.includes(n.port));
        for (const n of stopped) n.proc.kill("SIGSTOP");
        // Their sockets stay open while they are stopped; closing them on the master's side means
        // what the master writes next is never sent (a stopped process's kernel would still take it).
        await r.call("CLIENT", "KILL", "TYPE", "replica");
        return () => {
          for (const n of stopped) n.proc.kill("SIGCONT");
        };
      } finally {
        r.disconnect();
      }
    },
    stop,
  };
}

function startNode(port: number, dir: string, nodeTimeoutMs: number): ChildProcess {
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`)];
  args.push("--cluster-node-timeout", String(nodeTimeoutMs), "--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no");
  return spawn("redis-server", args, { stdio: "ignore" });
}

async function killProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  proc.kill("SIGKILL");
  await gone;
}

/** Asks the node on `port` one question on a connection of its own; false when it cannot be asked. */
async function askNode(port: number, ask: (r: Redis) => Promise<boolean>): Promise<boolean> {
  const r = new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on("error", () => {});
  try {
    await r.connect();
    return await ask(r);
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

const ping = (port: number) => askNode(port, async (r) => (await r.ping()) === "PONG");
const clusterOk = (port: number) => askNode(port, async (r) => String(await r.call("CLUSTER", "INFO")).includes("cluster_state:ok"));
/** True for a master, or a replica whose link to its master is up. */
const replicaSynced = (port: number) =>
  askNode(port, async (r) => {
    const info = await r.info("replication");
    return info.includes("role:master") || info.includes("master_link_status:up");
  });

/** Polls `check` every 100 ms until it is true; throws naming `what` after `ms`. */
export async function waitFor(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
