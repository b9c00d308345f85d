/**
 * Redis time per seat lock and unlock (targets: at most 30 µs per lock, hold expiry included; at
 * most 15 µs per transition with group commit), measured with `INFO commandstats` on a private
 * redis-server this script starts on a free port, so the figures are not mixed with whatever else
 * uses the shared Redis.
 *
 *   npx tsx scripts/lock-cost.ts [--locks 20000] [--users 200] [--in-flight 200] [--batches 1,8,64] [--compare DIR] [--rt]
 *
 * Every lock creates a new hold (each user locks one seat, then unlocks it, as the benchmark's
 * buyers do), which is the expensive case: the hold, its deadline index entry and the cluster-wide
 * index of events with holds are all written. Prints EVALSHA µs per lock and per unlock, and every
 * command's Redis time per lock (BullMQ's included, had anything added a job).
 *
 * Group commit: one variant per size in `--batches` calls lua/seatTransitions-19.lua with
 * that many transitions per call (size 1 is what a quiet event's lone lock costs), plus the seat
 * service itself, whose batcher forms batches from the `--in-flight` concurrent calls.
 *
 * `--compare DIR` also runs another version of the seat scripts (DIR holds its `lua/` folder, e.g.
 * an older commit's `libs/seats/lua/` checked out elsewhere) called directly, in alternate rounds
 * with the current ones, so a busy machine slows both alike; each figure is the median of the rounds.
 * `--compare-jobs` makes the compared version also add a BullMQ delayed job per new hold, as the
 * seat service would with a delayed job per hold (its Redis time then counts as EVALSHA too: BullMQ
 * uses scripts).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { loadConfig } from "@seatdrop/config";
import { createLogger } from "@seatdrop/observability";
import { createKeys, registerLuaScripts } from "@seatdrop/redis";
import { SeatService } from "@seatdrop/seats";

const { values } = parseArgs({
  options: {
    locks: { type: "string", default: "20000" },
    users: { type: "string", default: "200" },
    "in-flight": { type: "string", default: "200" },
    compare: { type: "string" },
    rt: { type: "boolean", default: false },
    "compare-jobs": { type: "boolean", default: false },
    batches: { type: "string", default: "1,8,64" },
  },
});
const locks = Number(values.locks);
const users = Number(values.users);
const inFlight = Number(values["in-flight"]);

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
// `--rt` runs the private redis-server under a real-time scheduling class (chrt, needs root) so a
// busy machine's other processes do not pre-empt it mid-command and inflate the µs it reports.
const redisArgs = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
const server = values.rt ? spawn("chrt", ["-f", "10", "redis-server", ...redisArgs], { stdio: "ignore" }) : spawn("redis-server", redisArgs, { stdio: "ignore" });
try {
  const url = `redis://127.0.0.1:${port}`;
  // redis-server takes a moment to listen; ioredis retries the connection until it does.
  const probe = new Redis(url, { retryStrategy: () => 50 });
  probe.on("error", () => {});
  await probe.ping();
  // Users lock and unlock the same seats round after round: the re-lock cool-down would refuse them.
  const config = loadConfig({ ...process.env, REDIS_URL: url, REDIS_PREFIX: "lockcost", LOG_LEVEL: "silent", HOLD_RELOCK_COOLDOWN_MS: "0" });
  const redis = new Redis(url, { enableAutoPipelining: true });
  const keys = createKeys(config.REDIS_PREFIX);
  const seats = new SeatService({ redis, keys, config, logger: createLogger("lock-cost", "silent") });
  const eventId = "00000000-0000-4000-8000-00000000c057";
  const seatIds = Array.from({ length: users }, (_, i) => `S_${i + 1}`);
  const holdSettings = { holdTtlMs: 600_000, holdMaxSeats: 10, holdGraceMs: 30_000, holdMaxExtensions: 2 };
  await seats.events.loadEvent(eventId, holdSettings, seatIds);
  type Op = (i: number, what: "lock" | "unlock") => Promise<unknown>;
  const variants: { name: string; op: Op; transitions?: number }[] = [
    {
      name: "current (SeatService, batches formed by its batcher)",
      op: (i, what) => (what === "lock" ? seats.lock({ eventId, userId: `user-${i}`, seatId: seatIds[i]! }) : seats.unlock({ eventId, userId: `user-${i}`, seatId: seatIds[i]! })),
    },
  ];
  // Fixed batch sizes, each on its own event: user i's transition goes in the call of batch ⌊i/size⌋
  // (op i = 0 sends it, the others are no-ops), so a phase still does one lock per user.
  const seatsCall = registerLuaScripts<string>(redis, fileURLToPath(new URL("../libs/seats/lua/", import.meta.url)), "seat");
  for (const size of values.batches.split(",").map(Number).filter((x) => x > 0)) {
    const id = `00000000-0000-4000-8000-${String(size).padStart(12, "0")}`;
    const k = keys.event(id);
    await seats.events.loadEvent(id, holdSettings, seatIds);
    variants.push({
      name: `seatTransitions, batches of ${size}`,
      op: async (i, what) => {
        if (i % size !== 0) return;
        const args: string[] = [];
        for (let j = i; j < Math.min(i + size, users); j++) args.push(what, `user-${j}`, seatIds[j]!, "");
        const r = (await seatsCall("seatTransitions", k.script, args)) as number[][];
        if (r.some((x) => x[0] !== 1)) throw new Error(`a ${what} was refused: ${JSON.stringify(r.find((x) => x[0] !== 1))}`);
      },
    });
  }
  if (values.compare) {
    // The other version's scripts on their own event (same settings), called as its SeatService did.
    const dir = values.compare.endsWith("/") ? values.compare : `${values.compare}/`;
    const call = registerLuaScripts<string>(redis, dir, "cmp");
    const batchedOld = existsSync(`${dir}seatTransitions-1.lua`);
    const otherId = "00000000-0000-4000-8000-00000000c058";
    const k = keys.event(otherId);
    await seats.events.loadEvent(otherId, holdSettings, seatIds);
    const queue = values["compare-jobs"] ? new Queue("holds", { connection: new Redis(url, { maxRetriesPerRequest: null }), prefix: keys.bullPrefix }) : null;
    variants.push({
      name: `compared (${values.compare}${queue ? ", with a delayed job per new hold" : ""})`,
      op: async (i, what) => {
        // A version with group commit but keys built from ARGV[1] (before every key was declared in
        // KEYS) takes seatTransitions with the meta hash and the key base; older ones lockSeat/unlockSeat.
        const r = batchedOld
          ? ((await call("seatTransitions", [k.meta], [k.base, what, `user-${i}`, seatIds[i]!, ""])) as number[][])[0]!
          : ((await call(what === "lock" ? "lockSeat" : "unlockSeat", [k.meta], [k.base, `user-${i}`, seatIds[i]!, ""])) as number[]);
        if (queue && what === "lock" && r[3] === 1) {
          const data = { eventId: otherId, userId: `user-${i}`, deadline: r[2]! };
          await queue.add("hold-expiry", data, {
            jobId: `expiry_${otherId}_${data.userId}_${data.deadline}`,
            delay: Math.max(0, data.deadline - Date.now()),
            removeOnComplete: true,
            removeOnFail: 1000,
            attempts: 5,
            backoff: { type: "exponential", delay: 200 },
          });
        }
        return r;
      },
    });
  }

  type Stats = Map<string, { calls: number; usec: number }>;
  const stats = async (): Promise<Stats> => {
    const out: Stats = new Map();
    for (const line of (await probe.info("commandstats")).split("\r\n")) {
      const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
      if (m && m[1] !== "info" && !m[1]!.startsWith("config")) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
    }
    return out;
  };
  // One phase: every user locks (or unlocks) its seat; Redis time per operation, EVALSHA and all.
  const phase = async (op: Op, what: "lock" | "unlock"): Promise<{ evalsha: number; all: number; stats: Stats }> => {
    await probe.config("RESETSTAT");
    let next = 0;
    const runner = async () => {
      for (;;) {
        const i = next++;
        if (i >= users) return;
        await op(i, what);
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, users) }, runner));
    const st = await stats();
    let all = 0;
    for (const v of st.values()) all += v.usec;
    return { evalsha: (st.get("evalsha")?.usec ?? 0) / users, all: all / users, stats: st };
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  // Rounds of `users` locks then their unlocks, so every lock makes a new hold.
  const rounds = Math.max(1, Math.round(locks / users));
  const results = variants.map(() => ({ lock: [] as number[], lockAll: [] as number[], unlock: [] as number[], lastLock: new Map() as Stats }));
  const started = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (let v = 0; v < variants.length; v++) {
      const l = await phase(variants[v]!.op, "lock");
      const u = await phase(variants[v]!.op, "unlock");
      results[v]!.lock.push(l.evalsha);
      results[v]!.lockAll.push(l.all);
      results[v]!.unlock.push(u.evalsha);
      results[v]!.lastLock = l.stats;
    }
  }
  const secs = (performance.now() - started) / 1000;
  console.log(`${rounds} rounds of ${users} locks and unlocks per variant (${inFlight} in flight) in ${secs.toFixed(1)} s; medians of the rounds:`);
  for (let v = 0; v < variants.length; v++) {
    const r = results[v]!;
    console.log(
      `${variants[v]!.name}: EVALSHA µs per lock ${median(r.lock).toFixed(1)} (all commands ${median(r.lockAll).toFixed(1)}), per unlock ${median(r.unlock).toFixed(1)}`,
    );
    console.log("  commands of its last lock phase:", Object.fromEntries([...r.lastLock].map(([k, x]) => [k, `${x.calls} calls, ${(x.usec / x.calls).toFixed(1)} µs each`])));
  }
  redis.disconnect();
  probe.disconnect();
  server.kill("SIGTERM");
  process.exit(0); // a compared BullMQ queue's connection would keep the process alive
} finally {
  server.kill("SIGTERM");
}
