import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Debian's haproxy, run with the committed deploy/haproxy.cfg: the same file, with only its bind
 * addresses and its servers' addresses rewritten to 127.0.0.1 (never a second copy kept by hand).
 */
export const HAPROXY_CFG = fileURLToPath(new URL("../../deploy/haproxy.cfg", import.meta.url));

/** The haproxy binary, or undefined when it is not installed (the tests then skip, saying so). */
export function haproxyBinary(): string | undefined {
  for (const bin of [process.env.HAPROXY_BIN, "haproxy", "/usr/sbin/haproxy"]) {
    if (!bin) continue;
    const r = spawnSync(bin, ["-v"], { encoding: "utf8" });
    if (r.status === 0) return bin;
  }
  return undefined;
}

export const FILE_LIMIT = 20_000;
export const STATS_USER = "ops";
export const STATS_PASSWORD = "test-stats-password";

/**
 * The committed file with `bind :8080` / `bind :8404` / `bind :8405` on loopback ports and `server ws-N ws-N:4000`
 * pointing at local ports. Throws if the file no longer has what it rewrites, so the test cannot
 * silently run a different configuration.
 */
export function localVariant(cfg: string, o: { port: number; statsPort: number; metricsPort: number; servers: number[] }): string {
  let out = cfg;
  const swap = (re: RegExp, to: string, what: string) => {
    if (!re.test(out)) throw new Error(`deploy/haproxy.cfg no longer has ${what}`);
    out = out.replace(re, to);
  };
  swap(/^(\s*)bind :8080\s*$/m, `$1bind 127.0.0.1:${o.port}`, "`bind :8080`");
  swap(/^(\s*)bind :8404\s*$/m, `$1bind 127.0.0.1:${o.statsPort}`, "`bind :8404`");
  swap(/^(\s*)bind :8405\s*$/m, `$1bind 127.0.0.1:${o.metricsPort}`, "`bind :8405`");
  o.servers.forEach((p, i) => swap(new RegExp(`^(\\s*server ws-${i + 1}) ws-${i + 1}:4000\\b`, "m"), `$1 127.0.0.1:${p}`, `server ws-${i + 1}`));
  if (/^\s*server\s+\S+\s+ws-\d/m.test(out)) throw new Error("deploy/haproxy.cfg has more servers than the test started");
  return out;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export interface ServerState {
  name: string;
  status: string;
  /** Connections currently open to that server. */
  current: number;
  /** Connections the balancer has sent to that server so far. */
  total: number;
}

export interface Haproxy {
  port: number;
  statsPort: number;
  /** HAProxy's Prometheus exporter (the `prometheus` frontend), at /metrics. */
  metricsPort: number;
  /** Every line haproxy wrote (its log goes to stdout), for failure messages. */
  output: string[];
  servers(): Promise<ServerState[]>;
  stop(): Promise<void>;
}

export async function startHaproxy(bin: string, servers: number[]): Promise<Haproxy> {
  const [port, statsPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(path.join(tmpdir(), "sdc-haproxy-"));
  const file = path.join(dir, "haproxy.cfg");
  writeFileSync(file, localVariant(readFileSync(HAPROXY_CFG, "utf8"), { port, statsPort, metricsPort, servers }));
  const output: string[] = [];
  // Under the file limit production machines have (20,000): a maxconn that does not fit makes
  // haproxy exit at start ("Cannot raise FD limit"), which `haproxy -c` does not catch.
  const child: ChildProcess = spawn("sh", ["-c", `ulimit -n ${FILE_LIMIT} && exec "$0" -db -f "$1"`, bin, file], {
    env: { ...process.env, HAPROXY_STATS_USER: STATS_USER, HAPROXY_STATS_PASSWORD: STATS_PASSWORD },
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const s of [child.stdout!, child.stderr!]) s.on("data", (d: Buffer) => output.push(...d.toString("utf8").split("\n").filter(Boolean)));
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = `haproxy exited (${signal ?? `code ${code}`}):\n${output.join("\n")}`));

  const auth = `Basic ${Buffer.from(`${STATS_USER}:${STATS_PASSWORD}`).toString("base64")}`;
  const hp: Haproxy = {
    port,
    statsPort,
    metricsPort,
    output,
    async servers() {
      const res = await fetch(`http://127.0.0.1:${statsPort}/stats;csv`, { headers: { authorization: auth } });
      if (!res.ok) throw new Error(`haproxy stats answered ${res.status}`);
      const [header, ...rows] = (await res.text()).trim().split("\n");
      const cols = header!.replace(/^# /, "").split(",");
      const at = (row: string[], c: string) => row[cols.indexOf(c)] ?? "";
      return rows
        .map((r) => r.split(","))
        .filter((r) => at(r, "pxname") === "ws_nodes" && !["BACKEND", "FRONTEND"].includes(at(r, "svname")))
        .map((r) => ({ name: at(r, "svname"), status: at(r, "status"), current: Number(at(r, "scur")), total: Number(at(r, "stot")) }));
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // Ready when the stats page answers (the listeners are bound by then).
  const until = Date.now() + 10_000;
  for (;;) {
    if (exited) throw new Error(exited);
    try {
      await hp.servers();
      return hp;
    } catch {
      if (Date.now() > until) {
        await hp.stop();
        throw new Error(`haproxy did not start:\n${output.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
