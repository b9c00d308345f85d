import type { ChildProcess } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis as Standalone } from "ioredis";
import { ChatBus } from "@seatdrop/chat";
import { createLogger } from "@seatdrop/observability";
import { WaitingRooms } from "@seatdrop/queue";
import { isCluster, luaScripts } from "@seatdrop/redis";
import { SeatService } from "@seatdrop/seats";
import { sql } from "drizzle-orm";
import { createEvent, createUser, seatIdsGrid } from "./support/cluster.ts";
import { freePort, startRedis } from "./support/private-redis.ts";
import { createTestEnv, type TestEnv } from "./support/test-env.ts";
import { createRoomEvent } from "./support/waiting-room.ts";

/**
 * Every key a script touches must be declared in KEYS: Redis Cluster only refuses a key of another
 * slot, but a proxy or a managed Redis that routes by declared keys (and Redis's own ACL key
 * patterns) sees only those. Redis itself does not check, so this test watches: MONITOR shows each
 * EVAL/EVALSHA and then every command its script ran; `COMMAND GETKEYS` names the keys of each, and
 * a key (or a shard channel of SPUBLISH) that is not among its script's KEYS fails the test, as do
 * declared keys of more than one hash tag. On a Redis Cluster every master is watched.
 *
 * The flows below run every seat, chat and waiting-room script, through the services that call them,
 * including the rare paths: a big map staged in chunks, an expired hold's seats offered to the
 * waiting room's next buyer, an abandoned hold, a rebuild and an epoch restart.
 */
const lib = (name: string) => fileURLToPath(new URL(`../libs/${name}/lua/`, import.meta.url));
const folders = [
  { dir: lib("seats"), namespace: "seat" },
  { dir: lib("chat"), namespace: "chat" },
  { dir: lib("queue"), namespace: "room" },
];
const bySha = new Map<string, string>();
for (const f of folders) for (const s of luaScripts(f.dir, f.namespace)) bySha.set(createHash("sha1").update(s.lua).digest("hex"), `${f.namespace}/${s.name}`);

interface Run {
  script: string;
  declared: string[];
  commands: string[][];
}

/** The escapes MONITOR uses (sdscatrepr) besides `\xHH`. */
const ESCAPES: Record<string, number> = { n: 10, r: 13, t: 9, a: 7, b: 8, '"': 34, "\\": 92 };

/**
 * One MONITOR line (`<time> [<db> <client or lua>] "arg" "arg" …`, every byte outside printable ASCII
 * escaped) as its source and arguments, back to their bytes.
 */
function parseMonitorLine(line: string): { source: string; args: string[] } | null {
  const head = /^\d+\.\d+ \[\d+ ([^\]]+)\] /.exec(line);
  if (!head) return null;
  const args: string[] = [];
  let i = head[0].length;
  while (line[i] === '"') {
    i++;
    const bytes: number[] = [];
    while (i < line.length && line[i] !== '"') {
      if (line[i] === "\\") {
        const next = line[i + 1]!;
        if (next === "x") {
          bytes.push(parseInt(line.slice(i + 2, i + 4), 16));
          i += 4;
        } else {
          bytes.push(ESCAPES[next] ?? next.charCodeAt(0));
          i += 2;
        }
      } else bytes.push(line.charCodeAt(i++));
    }
    args.push(Buffer.from(bytes).toString("utf8"));
    i += 2; // the closing quote and the space
  }
  return { source: head[1]!, args };
}

/**
 * Watches one server over a raw connection (ioredis' monitor mode can take the first line after
 * MONITOR's OK for a reply when both arrive in one read): the runs of this project's scripts, each
 * with the commands it ran. Resolves once MONITOR is on.
 */
async function watch(server: Standalone): Promise<{ runs: Run[]; stop(): void }> {
  const { host, port } = server.options;
  const socket = connect({ host: host ?? "127.0.0.1", port: port ?? 6379 });
  socket.setEncoding("latin1");
  const runs: Run[] = [];
  let current: Run | null = null;
  let buffered = "";
  const onLine = (line: string) => {
    const parsed = parseMonitorLine(line);
    if (!parsed) return;
    const { source, args } = parsed;
    if (source === "lua") {
      current?.commands.push(args);
      return;
    }
    current = null;
    const cmd = args[0]!.toLowerCase();
    if (cmd !== "evalsha" && cmd !== "eval") return;
    const sha = cmd === "eval" ? createHash("sha1").update(args[1]!).digest("hex") : args[1]!;
    const script = bySha.get(sha);
    if (!script) return; // BullMQ's or another library's
    current = { script, declared: args.slice(3, 3 + Number(args[2])), commands: [] };
    runs.push(current);
  };
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf("\r\n")) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (line === "+OK") resolve();
        else if (line.startsWith("+")) onLine(line.slice(1));
        else if (line.startsWith("-")) reject(new Error(`MONITOR: ${line}`));
      }
    });
    socket.write("MONITOR\r\n");
  });
  return { runs, stop: () => void socket.destroy() };
}

/** The keys of one command as Redis names them (none for TIME and the like); a shard channel counts as one. */
async function keysOf(probe: Standalone, cache: Map<string, string[]>, args: string[]): Promise<string[]> {
  const cmd = args[0]!.toLowerCase();
  if (cmd === "spublish") return [args[1]!];
  const id = JSON.stringify(args);
  let keys = cache.get(id);
  if (!keys) {
    keys = await (probe.call("COMMAND", "GETKEYS", ...args) as Promise<string[]>).catch((err: Error) => {
      // TIME and other commands without keys: Redis says so, by either message.
      if (/no key arguments|wrong number of arguments for 'command\|getkeys'/i.test(err.message) && args.length === 1) return [];
      if (/no key arguments/i.test(err.message)) return [];
      throw new Error(`COMMAND GETKEYS ${JSON.stringify(args).slice(0, 300)}: ${err.message}`);
    });
    cache.set(id, keys);
  }
  return keys;
}

const hashTag = (key: string) => /\{([^}]*)\}/.exec(key)?.[1] ?? key;

let env: TestEnv;
let watchers: { runs: Run[]; stop(): void }[] = [];
let probe: Standalone;

let privateRedis: ChildProcess | undefined;

beforeAll(async () => {
  // MONITOR copies every command of the server to this test: on a standalone Redis it gets a
  // private redis-server, so the suite's other files (sharing the local one) are not slowed by it.
  const standalone: Record<string, string> = {};
  if (!process.env.REDIS_CLUSTER_NODES) {
    const port = await freePort();
    privateRedis = await startRedis(port);
    standalone.REDIS_URL = `redis://127.0.0.1:${port}`;
  }
  env = await createTestEnv({ QUEUE_POSITION_MS: "200", ...standalone });
  const servers = isCluster(env.redis) ? env.redis.nodes("master") : [env.redis];
  const { host, port, username, password } = servers[0]!.options;
  probe = new Standalone({ host, port, username, password });
  watchers = await Promise.all(servers.map(watch));
});
afterAll(async () => {
  for (const w of watchers) w.stop();
  probe?.disconnect();
  await env?.close();
  privateRedis?.kill("SIGKILL");
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the Lua scripts' keys", () => {
  it("every key every script touches is declared in its KEYS, all under one hash tag", async () => {
    const logger = createLogger("test", "silent");
    const seats = new SeatService({ redis: env.redis, keys: env.keys, config: env.config, logger, db: env.db.db });
    const rooms = new WaitingRooms({ redis: env.redis, keys: env.keys, config: env.config, logger, db: env.db.db, ensureSeats: (id) => seats.events.ensureEventLoaded(id) });
    const chat = new ChatBus(env.redis, env.keys);

    // A big map, staged in chunks (loadEvent's stage and commit).
    const big = randomUUID();
    await seats.events.loadEvent(big, { holdTtlMs: 60_000, holdMaxSeats: 4, holdGraceMs: 100, holdMaxExtensions: 2 }, seatIdsGrid(1, 10_001));

    // An event with a waiting room, drawn, with buyers admitted and waiting; holds that expire.
    const { eventId } = await createRoomEvent(env, seatIdsGrid(1, 6), { opensAt: new Date(Date.now() - 2000), salesOpenAt: new Date(Date.now() - 1000), holdTtlMs: 400 });
    await seats.events.ensureEventLoaded(eventId);
    await rooms.ensureLoaded(eventId);
    await rooms.draw(eventId);
    const [a, b, c, d] = await Promise.all([createUser(env), createUser(env), createUser(env), createUser(env)]);
    for (const u of [a, b, c, d]) await rooms.join(eventId, u.id);
    await rooms.positions(eventId, [a.id, b.id, c.id, d.id]);
    await rooms.tick(eventId, "node-1");
    await rooms.restore(eventId, "admitted", [[a.id, Date.now() + 60_000]]);

    await seats.lock({ eventId, userId: a.id, seatId: "A_1" });
    await seats.lock({ eventId, userId: a.id, seatId: "A_2" });
    await seats.extend({ eventId, userId: a.id });
    await seats.unlock({ eventId, userId: a.id, seatId: "A_2" });
    await seats.lock({ eventId, userId: b.id, seatId: "A_3" });
    await seats.holds.markLive(eventId, "node-1", [a.id, b.id], 200);
    await seats.holds.markGone(eventId, "node-1", b.id);
    await seats.snapshot({ eventId, userId: a.id });
    const orderId = randomUUID();
    await seats.reserveHold({ eventId, userId: b.id, orderId });
    await seats.setSeatState({ eventId, seatId: "A_3", action: "pay", orderId, userId: b.id });
    await seats.setSeatState({ eventId, seatId: "A_3", action: "revoke", orderId, userId: b.id });
    await seats.events.rebuildFromDb(eventId);
    await seats.lock({ eventId, userId: c.id, seatId: "A_4" });
    await seats.holds.releaseHoldByAdmin({ eventId, userId: c.id });
    await seats.lock({ eventId, userId: d.id, seatId: "A_5" });
    await sleep(500); // a's and d's holds expire: the sweep offers their seats to the room's next buyer
    await seats.holds.releaseHold({ eventId, userId: d.id, mode: "expired" });
    await seats.holds.sweep(eventId, { lease: { owner: "node-1", ms: 1000 } });
    await seats.lock({ eventId, userId: b.id, seatId: "A_6" });
    await sleep(150); // b's vouch has run out and the grace passed
    await seats.holds.releaseAbandoned(eventId);
    await seats.events.restartEpoch(eventId);

    // Best-available: a block of the layout locked by one transition of seatTransitions.
    const laid = await createEvent(env, seatIdsGrid(1, 6));
    await env.db.db.execute(sql`update seats set "row" = split_part(seat_id, '_', 1), "number" = split_part(seat_id, '_', 2)::int where event_id = ${laid}`);
    await seats.bestAvailable({ eventId: laid, userId: a.id, count: 3 });

    // The event's chat room.
    await chat.emit(eventId, { k: "slow_mode", seconds: 0 });
    await chat.typing({ eventId, userId: a.id, typing: true, throttleMs: 1000, origin: "n:1" });
    await chat.takeMessageSlot({ eventId, userId: a.id, limit: 5, windowMs: 1000 });
    const entry = { user_id: a.id, phx_ref: "r1", online_at: Date.now() };
    await chat.presenceBatch({ eventId, add: [{ field: "node-1|r1", entry }, { field: "node-1|r2", entry: { ...entry, phx_ref: "r2" } }], remove: [] });
    await chat.presenceLeave({ eventId, fields: ["node-1|r1"] });
    await chat.presenceReapNode({ eventId, nodeId: "node-1" });
    await sleep(200); // the last MONITOR lines arrive

    const runs = watchers.flatMap((w) => w.runs);
    // Every script of the three folders ran at least once (chatRate declares its keys by hand).
    const expected = [...bySha.values()].sort();
    expect([...new Set(runs.map((r) => r.script))].sort()).toEqual(expected);

    const cache = new Map<string, string[]>();
    const undeclared: string[] = [];
    for (const run of runs) {
      const tags = new Set(run.declared.map(hashTag));
      if (tags.size !== 1) undeclared.push(`${run.script}: declared keys under ${tags.size} hash tags: ${run.declared.join(" ")}`);
      const declared = new Set(run.declared);
      for (const command of run.commands)
        for (const key of await keysOf(probe, cache, command))
          if (!declared.has(key)) undeclared.push(`${run.script}: ${command[0]} ${key} is not in KEYS`);
    }
    expect([...new Set(undeclared)]).toEqual([]);
    // The offer path really ran: a released hold's seat was offered to a waiting-room buyer.
    expect(runs.some((r) => r.commands.some((c) => c[0]!.toLowerCase() === "hset" && c[1] === env.keys.event(eventId).offers))).toBe(true);
  }, 60_000);
});
