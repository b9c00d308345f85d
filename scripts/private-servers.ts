/**
 * `npm start` on a machine where Redis or PostgreSQL is installed but not running: in development,
 * and only for a URL on this machine, it runs a private redis-server and/or PostgreSQL of its own in
 * a data folder (SDC_DEV_DATA, default `.dev-data/` at the repository's root, git-ignored), says so,
 * and stops them when it stops. Without the binaries it says the one command that installs them.
 * SDC_PRIVATE_SERVERS=0 turns this off (the start then fails as before, naming what is missing).
 *
 * PostgreSQL refuses to run as root: as root, the private one runs as the `postgres` user (Debian's
 * package makes it), through `runuser`, with the data folder given to that user.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { probeDatabase } from "@seatdrop/db";
import { probeRedis } from "@seatdrop/redis";

export interface PrivateServer {
  name: string;
  child: ChildProcess;
  /** PostgreSQL's postmaster.pid: the server itself (the child may be `runuser` in front of it). */
  pidFile?: string;
}

const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);
const isLocal = (url: string) => {
  try {
    return LOCAL_HOSTS.has(new URL(url).hostname);
  } catch {
    return false;
  }
};

/** The one command that installs both, for this platform. */
export function installCommand(platform = process.platform): string {
  if (platform === "darwin") return "brew install redis postgresql@16";
  return "sudo apt-get install -y redis-server postgresql (Debian, Ubuntu); or run both with docker compose up redis postgres";
}

/** An executable on PATH, or the first of `extra` that exists. */
function findBinary(name: string, extra: string[] = []): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  return extra.find((p) => existsSync(p));
}

/** Debian keeps PostgreSQL's server binaries out of PATH, one folder per major version: the newest. */
function postgresBinDir(): string | undefined {
  const onPath = findBinary("initdb");
  if (onPath) return path.dirname(onPath);
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], "bin") : undefined;
}

async function until(check: () => Promise<string | null>, ms: number, child: ChildProcess): Promise<string | null> {
  const end = Date.now() + ms;
  let problem: string | null = "not started";
  while (Date.now() < end) {
    if (child.exitCode !== null || child.signalCode !== null) return `it exited (${child.signalCode ?? `code ${child.exitCode}`})`;
    problem = await check();
    if (!problem) return null;
    await new Promise((r) => setTimeout(r, 200));
  }
  return problem;
}

/** Output kept for a failure message, not shown otherwise. */
function capture(child: ChildProcess): string[] {
  const lines: string[] = [];
  for (const s of [child.stdout, child.stderr]) s?.on("data", (d: Buffer) => lines.push(...d.toString("utf8").split("\n").filter(Boolean).slice(-20)));
  return lines;
}

async function startRedis(url: string, dataDir: string): Promise<PrivateServer | string> {
  const bin = findBinary("redis-server");
  if (!bin) return `there is no redis-server on this machine to run a private one: ${installCommand()}`;
  const port = new URL(url).port || "6379";
  const dir = path.join(dataDir, "redis");
  mkdirSync(dir, { recursive: true });
  const child = spawn(bin, ["--port", port, "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no"], { stdio: ["ignore", "pipe", "pipe"] });
  const out = capture(child);
  const problem = await until(() => probeRedis(url), 10_000, child);
  if (problem) {
    child.kill("SIGKILL");
    return `a private redis-server on port ${port} did not start: ${problem}\n${out.join("\n")}`;
  }
  console.error(`npm start: Redis did not answer at ${url}; started a private redis-server there for development (data in ${dir}; it stops with npm start)`);
  return { name: "redis-server", child };
}

/** Runs a PostgreSQL binary, as the `postgres` user when this process is root. */
function pgCommand(bin: string, args: string[]): [string, string[]] {
  return userInfo().uid === 0 ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
}

async function startPostgres(url: string, dataDir: string): Promise<PrivateServer | string> {
  const binDir = postgresBinDir();
  if (!binDir) return `there is no PostgreSQL server (initdb, postgres) on this machine to run a private one: ${installCommand()}`;
  const root = userInfo().uid === 0;
  if (root && spawnSync("id", ["-u", "postgres"]).status !== 0) return "PostgreSQL refuses to run as root and there is no postgres user to run it as: run npm start as a normal user";
  const u = new URL(url);
  const port = u.port || "5432";
  const user = decodeURIComponent(u.username || "postgres");
  const dir = path.join(dataDir, "postgres");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (root) {
    const uid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim());
    const gid = Number(spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim());
    chownSync(dataDir, uid, gid);
    chownSync(dir, uid, gid);
    if (spawnSync("runuser", ["-u", "postgres", "--", "test", "-w", dir]).status !== 0) return `the postgres user cannot reach ${dir} (a parent folder is closed to it): set SDC_DEV_DATA to a folder it can reach`;
  }
  if (!existsSync(path.join(dir, "PG_VERSION"))) {
    const [cmd, args] = pgCommand(path.join(binDir, "initdb"), ["-D", dir, "-U", user, "--auth=trust", "-E", "UTF8"]);
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) return `initdb of a private PostgreSQL in ${dir} failed: ${r.stderr || r.stdout}`;
  }
  const [cmd, args] = pgCommand(path.join(binDir, "postgres"), ["-D", dir, "-p", port, "-k", dir, "-c", "listen_addresses=127.0.0.1"]);
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  const out = capture(child);
  const maintenance = new URL(url);
  maintenance.pathname = "/postgres";
  const problem = await until(() => probeDatabase(maintenance.toString()), 20_000, child);
  if (problem) {
    child.kill("SIGKILL");
    return `a private PostgreSQL on port ${port} did not start: ${problem}\n${out.join("\n")}`;
  }
  // The database DATABASE_URL names, made once.
  const name = decodeURIComponent(u.pathname.slice(1) || user);
  const sql = postgres(maintenance.toString(), { max: 1, onnotice: () => {} });
  try {
    const [found] = await sql`select 1 from pg_database where datname = ${name}`;
    if (!found) await sql.unsafe(`create database "${name.replace(/"/g, '""')}"`);
  } finally {
    await sql.end({ timeout: 1 });
  }
  console.error(`npm start: PostgreSQL did not answer at port ${port}; started a private PostgreSQL there for development (data in ${dir}; it stops with npm start)`);
  return { name: "postgres", child, pidFile: path.join(dir, "postmaster.pid") };
}

/**
 * For each store that did not answer: a private server when allowed and possible, else the reason
 * (the store's own problem line, and why no private one was started).
 */
export async function privateServers(o: {
  redis: { url: string; problem: string | null; cluster: boolean };
  postgres: { url: string; problem: string | null };
  dataDir: string;
}): Promise<{ servers: PrivateServer[]; problems: string[] }> {
  const servers: PrivateServer[] = [];
  const problems: string[] = [];
  const allowed = process.env.NODE_ENV !== "production" && process.env.SDC_PRIVATE_SERVERS !== "0";
  const tries: [string | null, () => Promise<PrivateServer | string>, boolean][] = [
    [o.redis.problem, () => startRedis(o.redis.url, o.dataDir), !o.redis.cluster && isLocal(o.redis.url)],
    // Only a server that is not there at all: a running one with a missing database or a refused login is the user's to fix.
    [o.postgres.problem, () => startPostgres(o.postgres.url, o.dataDir), isLocal(o.postgres.url) && /not reachable/.test(o.postgres.problem ?? "")],
  ];
  for (const [problem, start, local] of tries) {
    if (!problem) continue;
    if (!allowed || !local) {
      problems.push(problem);
      continue;
    }
    const r = await start();
    if (typeof r === "string") problems.push(`${problem}\n  ${r}`);
    else servers.push(r);
  }
  return { servers, problems };
}

/** Stops them (SIGTERM: a fast shutdown for PostgreSQL), waiting up to 10 s each. */
export async function stopPrivateServers(servers: PrivateServer[]): Promise<void> {
  await Promise.all(
    servers.map(async (s) => {
      if (s.child.exitCode !== null || s.child.signalCode !== null) return;
      const gone = new Promise((r) => s.child.once("exit", r));
      // PostgreSQL's fast shutdown is SIGINT to the postmaster (runuser, in front of it as root, would not pass it on).
      const pid = s.pidFile && existsSync(s.pidFile) ? Number(readFileSync(s.pidFile, "utf8").split("\n")[0]) : undefined;
      if (pid) process.kill(pid, "SIGINT");
      else s.child.kill("SIGTERM");
      const timer = setTimeout(() => s.child.kill("SIGKILL"), 10_000);
      await gone;
      clearTimeout(timer);
    }),
  );
}
