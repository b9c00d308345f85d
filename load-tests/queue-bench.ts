/**
 * The waiting room under load: `npm run bench -- --only queue` (bench.ts runs it; `--quick` for CI
 * sizes). Its own cluster: two ws-nodes (log level info, their stdout read for the draw's log
 * line), the worker and the API as separate processes on the bench's private database and Redis
 * prefix, with the stock per-socket push limit (WS_PUSH_RATE), which is what a bot runs into; the
 * clients are raw Phoenix clients in the generator children (lib/queue-gen.ts).
 *
 * 1. Draw and positions: BENCH_QUEUE_WAITERS (100,000; quick 5,000) entrants of one event's
 *    pre-queue, BENCH_QUEUE_SOCKETS (2,000; 200) of them real sockets over both nodes joined to
 *    `queue:<id>` (join rate), the rest written straight into the pre-queue hash (HSET, value =
 *    arrival ms). Then sales open: the draw's wall time (sales_open_at to the room's drawnAt), the
 *    node's "waiting room drawn" ms, and the Redis time of the window (commandstats names scripts
 *    EVALSHA, not by their ioredis names, so the EVALSHA figure is every script in the window: the
 *    draw's begin/stage/commit plus the few ticks and position reads around it, an upper bound;
 *    plus its HSCANs), and the longest single call from Redis's slow log.
 *    Then, while the room admits (BENCH_QUEUE_ROOM_SEATS free seats: about half as many buyers a
 *    tick, so everyone's place moves every second; the node decides what is worth a push), ws-node
 *    CPU per waiter on a socket per second, beside the same nodes idle (no socket) and in the
 *    pre-queue (their places read every second, nothing to tell), and the pushes each waiter got.
 *    When the two nodes have not drawn within 15 s (a draw that outlasts the room's tick lease is
 *    taken over by the other node, again and again) that check fails, node 1's sockets leave so
 *    node 0 alone draws (that draw is measured), and they join again through node 0.
 * 2. A drop through the room: BENCH_QUEUE_BUYERS (2,000; 200) human buyers and BENCH_QUEUE_BOTS
 *    (3; 1) bots in the pre-queue, BENCH_QUEUE_SEATS (2,000; 200) seats, up to
 *    BENCH_QUEUE_DROP_SECONDS (60; 15). Admitted buyers join the map with their pass, lock 1–4 seats
 *    they see free (among the BENCH_QUEUE_PICK_BEST, 20, best ones) with a think time
 *    (BENCH_QUEUE_THINK_MS, 500-2000) before each, order them (POST /api/orders, Idempotency-Key)
 *    and pay (the provider's signed webhook, as soak.ts does). The room's meta hash is sampled
 *    every 100 ms. Checks (fail the run): buyers with empty holds never above free seats;
 *    no tick admits while those buyers already cover the free seats (empty ≤ ⌈free / avg⌉ after
 *    any admission, so none while free ≤ 0); no admission after sell-out; every waiter's place
 *    never goes up; every waiter not admitted told `sold_out`; the admitted told once each and as
 *    many as the room counted; passes accepted; no seat sold twice. Reported: `sold_out` after the
 *    last payment (max), admissions, pauses.
 * 3. The same drop (same buyers, bots, seats and think times) without a room, every buyer on the
 *    map when sales open: refused locks per sold seat, lock round trip p99, seats per bot against
 *    seats per human, with and without.
 * Targets reported (never fail the run): a draw of 100,000 within 2 s of Redis time (a quick run
 * extrapolates per entrant), ≤ 1 µs ws-node CPU per waiter per second, refused locks per sold seat
 * at least 10× fewer with the room. Every wait is bounded; everything talks to 127.0.0.1 only.
 */
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { events } from "@seatdrop/db";
import { createLogger } from "@seatdrop/observability";
import { newRoomSecrets, WaitingRooms } from "@seatdrop/queue";
import { SeatService } from "@seatdrop/seats";
import type { TestEnv } from "../test/support/test-env.ts";
import { createEvent, createUsers, plainSeats, type BenchUser } from "./lib/fixtures.ts";
import type { GenPool } from "./lib/gen-pool.ts";
import { now } from "./lib/generator.ts";
import { Histogram } from "./lib/histogram.ts";
import type { QueueSpec, ShopArgs } from "./lib/queue-gen.ts";
import { freePort, serverEnv, sleep, startServer } from "./lib/procs.ts";
import { measureCost, sizeReader, type Check, type Cost, type Pids, type Row } from "./lib/rows.ts";

export interface QueueBenchDeps {
  env: TestEnv;
  gens: GenPool;
  quick: boolean;
  push(row: Row): void;
}

const f1 = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString("en-US")) : "—");
const f2 = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : f1(n)) : "—");
const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
/** A histogram sent over IPC (counts and max). */
const hist = (h: { counts: number[]; max: number }) => Object.assign(new Histogram([...h.counts]), { max: h.max });

/** One line of a ws-node's log (pino JSON). */
interface LogLine {
  level: number;
  msg: string;
  eventId?: string;
  entrants?: number;
  ms?: number;
  node: number;
}

/** A sample of the room's meta hash. */
interface MetaSample {
  t: number;
  drawn: boolean;
  free: number;
  empty: number;
  shopping: number;
  admittedTotal: number;
  soldOut: boolean;
  avg: number;
  rateAt: number;
}

type GenResults = {
  humans: { n: number; admitted: number; shopped: number; withSeats: number; seats: number; locksOk: number; refused: number; reasons: Record<string, number>; orders: number; orderFails: Record<string, number>; joinFails: Record<string, number>; passRefused: number; lastPaidAt: number; rtt: { counts: number[]; max: number } };
  bots: { seats: number; locksOk: number; refused: number; rateLimited: number; reasons: Record<string, number>; admittedAt: number; shopStartAt: number; firstLockAt: number; orders: number; orderFails: Record<string, number>; lastPaidAt: number }[];
  botRtt: { counts: number[]; max: number };
  waiters: { n: number; positionPushes: number; positioned: number; ups: number; upExample: string; admittedPushes: number; admittedUsers: number; admittedTwice: number; soldOutAt: number[]; firstPositionAt: number[]; admittedAt: number[]; errors: number; closed: number };
};

type ConnectResult = { opened: number; failed: number; refused: number; connectMs: number; joinMs: number; states: Record<string, number>; withPosition: number };

/** What one drop (with or without the room) came to. */
interface DropOutcome {
  seatsSold: number;
  soldTwice: number;
  humanRefused: number;
  humanLocks: number;
  refusedPerSold: number;
  p50: number;
  p99: number;
  seatsPerHuman: number;
  seatsPerBot: number;
  humansWithSeats: number;
}

export async function queueBench(d: QueueBenchDeps): Promise<void> {
  const { env, gens, quick } = d;
  const num = sizeReader(quick);
  const size = {
    waiters: num("BENCH_QUEUE_WAITERS", 100_000, 5000),
    sockets: num("BENCH_QUEUE_SOCKETS", 2000, 200),
    roomSeats: num("BENCH_QUEUE_ROOM_SEATS", 200, 20),
    positionSeconds: num("BENCH_QUEUE_POSITION_SECONDS", 10, 3),
    baselineSeconds: num("BENCH_QUEUE_BASELINE_SECONDS", 5, 2),
    seats: num("BENCH_QUEUE_SEATS", 2000, 200),
    buyers: num("BENCH_QUEUE_BUYERS", 2000, 200),
    bots: num("BENCH_QUEUE_BOTS", 3, 1),
    dropSeconds: num("BENCH_QUEUE_DROP_SECONDS", 60, 15),
    turnMs: num("BENCH_QUEUE_TURN_MS", 120_000, 120_000),
  };
  const [thinkMinMs, thinkMaxMs] = (process.env.BENCH_QUEUE_THINK_MS ?? "500-2000").split("-").map(Number) as [number, number];
  const pickBest = Number(process.env.BENCH_QUEUE_PICK_BEST ?? 20);
  const sockets = Math.min(size.sockets, size.waiters);
  const logger = createLogger("queue-bench", "warn");
  const logs: LogLine[] = [];
  const procs: { name: string; proc: ChildProcess }[] = [];
  const serversUp = () => {
    const dead = procs.filter((p) => p.proc.exitCode !== null || p.proc.signalCode !== null);
    if (dead.length) throw new Error(`queue bench: server process died: ${dead.map((p) => p.name).join(", ")}; see its stderr above`);
  };
  try {
    // The cluster: the stock push limit (the bots' token bucket), the payment webhook secret (the buyers pay with signed webhooks).
    const ports = [await freePort(), await freePort()];
    const workerPort = await freePort();
    const apiPort = await freePort();
    const webhookSecret = env.config.PAYMENT_WEBHOOK_SECRET ?? "bench-webhook-secret-0123456789";
    const childEnv = serverEnv(env, { ADMIN_EMAIL: "admin@bench.local", ADMIN_PASSWORD: "bench-admin-password", PAYMENT_WEBHOOK_SECRET: webhookSecret });
    for (const [i, port] of ports.entries()) {
      const onLine = (line: string) => {
        if (!line.startsWith("{")) return;
        try {
          const l = { ...(JSON.parse(line) as Omit<LogLine, "node">), node: i };
          if (l.msg?.startsWith("waiting room")) logs.push(l);
          if (l.level >= 40) console.error(`[queue bench ws-node ${i}] ${line}`);
        } catch {
          /* not a log line */
        }
      };
      const gcFlags = process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF] : [];
      procs.push({ name: `ws-node ${i}`, proc: await startServer("apps/ws-node/src/main.ts", { ...childEnv, LOG_LEVEL: "info", WS_PORT: String(port), NODE_ID: `bench-queue-${i}` }, port, gcFlags, onLine) });
    }
    procs.push({ name: "worker", proc: await startServer("apps/worker/src/main.ts", { ...childEnv, WORKER_PORT: String(workerPort) }, workerPort) });
    procs.push({ name: "api", proc: await startServer("apps/api/src/main.ts", { ...childEnv, API_PORT: String(apiPort) }, apiPort) });
    const pids: Pids = { nodes: procs.slice(0, 2).map((p) => p.proc.pid!), worker: [procs[2]!.proc.pid!], api: [procs[3]!.proc.pid!], gens: gens.pids };
    const measure = async <T>(f: () => Promise<T>) => {
      const m = await measureCost(env.redis, pids, f);
      serversUp();
      return m;
    };
    /**
     * Calls about one event that Redis's slow log kept (those over slowlog-log-slower-than, 10 ms by
     * default) since `sinceMs`: the room's scripts by step (`EVALSHA sha 12 <12 keys> <base> <step or
     * node id>`, a node id being a tick), anything else by command.
     */
    const roomStep = (args: string[]) => {
      const a = String(args[16]);
      if (/^bench-queue-\d+$/.test(a)) return "tick";
      // queueJoin has one user id there, queuePositions one per waiter (the slow log keeps 32 arguments).
      if (/^[0-9a-f]{8}-/.test(a)) return args.length > 17 ? "positions" : "join";
      return a;
    };
    const slowCalls = async (sinceMs: number, eventId: string) => {
      const roomMeta = env.keys.room(eventId).meta;
      const entries = (await env.redis.call("SLOWLOG", "GET", "1000")) as [number, number, number, string[]][];
      return entries
        .filter((e) => e[1] * 1000 >= sinceMs - 1000 && e[3].some((a) => a.includes(eventId)))
        .map((e) => ({ ms: e[2] / 1000, what: e[3].includes(roomMeta) ? roomStep(e[3]) : e[3][0]?.toLowerCase() === "evalsha" ? "seat script" : String(e[3][0]).toLowerCase() }));
    };
    const rooms = new WaitingRooms({ redis: env.redis, keys: env.keys, config: env.config, logger, db: env.db.db });
    const seatService = new SeatService({ redis: env.redis, keys: env.keys, config: env.config, logger, db: env.db.db });
    const users = await createUsers(env, sockets + size.buyers + size.bots);
    const roomRecord = () => ({ ...newRoomSecrets(), opens_at: new Date(Date.now() - 1000).toISOString(), turn_ms: size.turnMs, max_active: null, pow_bits: 0 });
    const later = () => new Date(Date.now() + 3_600_000);
    /** Moves sales_open_at (the draw, and the seat scripts' sales gate) to `at`, as an edit of the event would. */
    const openSales = async (eventId: string, at: Date, room: boolean) => {
      await env.db.db.update(events).set({ salesOpenAt: at }).where(eq(events.id, eventId));
      await seatService.events.loadFromDb(eventId);
      if (room) await rooms.update(eventId);
    };
    const connect = async (specs: QueueSpec[]) => {
      const dealt = gens.deal(specs);
      const { r, cost } = await measure(() => gens.all<ConnectResult>("qConnect", (i) => ({ specs: dealt[i] })));
      const states: Record<string, number> = {};
      for (const x of r) for (const [k, v] of Object.entries(x.states)) states[k] = (states[k] ?? 0) + v;
      return {
        opened: r.reduce((s, x) => s + x.opened, 0),
        failed: r.reduce((s, x) => s + x.failed + x.refused, 0),
        connectMs: Math.max(...r.map((x) => x.connectMs)),
        joinMs: Math.max(...r.map((x) => x.joinMs)),
        withPosition: r.reduce((s, x) => s + x.withPosition, 0),
        states,
        cost,
      };
    };
    const results = async (): Promise<GenResults> => {
      const parts = await gens.all<GenResults>("qResults");
      const out = parts[0]!;
      for (const p of parts.slice(1)) {
        const h = out.humans;
        for (const k of ["n", "admitted", "shopped", "withSeats", "seats", "locksOk", "refused", "orders", "passRefused"] as const) h[k] += p.humans[k];
        h.lastPaidAt = Math.max(h.lastPaidAt, p.humans.lastPaidAt);
        for (const k of ["reasons", "orderFails", "joinFails"] as const) for (const [r, n] of Object.entries(p.humans[k])) h[k][r] = (h[k][r] ?? 0) + n;
        const rtt = hist(h.rtt);
        rtt.merge(p.humans.rtt);
        h.rtt = rtt.toJSON();
        const botRtt = hist(out.botRtt);
        botRtt.merge(p.botRtt);
        out.botRtt = botRtt.toJSON();
        out.bots.push(...p.bots);
        const w = out.waiters;
        for (const k of ["n", "positionPushes", "positioned", "ups", "admittedPushes", "admittedUsers", "admittedTwice", "errors", "closed"] as const) w[k] += p.waiters[k];
        w.upExample ||= p.waiters.upExample;
        w.soldOutAt.push(...p.waiters.soldOutAt);
        w.firstPositionAt.push(...p.waiters.firstPositionAt);
        w.admittedAt.push(...p.waiters.admittedAt);
      }
      return out;
    };

    // ---- 1. The draw of the pre-queue, and position pushes while the room admits. ----
    {
      const eventId = await createEvent(env, plainSeats(size.roomSeats), { salesOpenAt: later(), waitingRoom: roomRecord() });
      const rk = env.keys.room(eventId);
      const specs: QueueSpec[] = users.slice(0, sockets).map((u, i) => ({ port: ports[i % 2]!, token: u.token, eventId, role: "waiter", room: true }));
      // The nodes' CPU with no socket (after a moment to settle from their start), then with every
      // waiter in the pre-queue (the node reads their places every second, which also vouches for
      // them, but has nothing to tell), then while the room admits: what each adds per waiter per second.
      await sleep(2000);
      const { cost: idleCost } = await measure(() => sleep(size.baselineSeconds * 1000));
      const joined = await connect(specs);
      // The rest of the entrants, straight into the pre-queue hash (value: arrival ms).
      const fakes = size.waiters - sockets;
      const t0 = now();
      for (let i = 0; i < fakes; i += 1000) {
        const pipe = env.redis.pipeline();
        const args: (string | number)[] = [];
        for (let j = i; j < Math.min(fakes, i + 1000); j++) args.push(randomUUID(), Date.now());
        pipe.hset(rk.pre, ...args);
        await pipe.exec();
      }
      const hsetMs = now() - t0;
      const entrants = await env.redis.hlen(rk.pre);
      // Baseline: the nodes with every waiter joined and nothing to tell (the pre-queue has no places).
      const { r: baseMark, cost: baseCost } = await measure(async () => {
        await sleep(size.baselineSeconds * 1000);
        return (await gens.all<{ waiting: number }>("qMark")).reduce((s, m) => s + m.waiting, 0);
      });
      // Sales open: the node holding the room's lease draws.
      const salesOpenAt = new Date(Date.now() + 200);
      await openSales(eventId, salesOpenAt, true);
      const waitDrawn = (ms: number) =>
        measure(async () => {
          const until = now() + ms;
          while (now() < until) {
            if ((await env.redis.hget(rk.meta, "drawn")) === "1") return true;
            await sleep(10);
          }
          return false;
        });
      // A draw takes about a second per 100,000 entrants here; far longer means it is not converging.
      const drawTimeout = Math.max(10_000, size.waiters * 0.15);
      const attempts = () => logs.filter((l) => l.msg === "waiting room drawn by this node" && l.eventId === eventId);
      const drawWindowAt = Date.now();
      const twoNodes = await waitDrawn(drawTimeout);
      let { r: drawn, cost: drawCost } = twoNodes;
      let drawStartedAt = salesOpenAt.getTime();
      /** When the two nodes' draw did not complete: how it went, and the one-node draw measured instead. */
      let stuck: { attempts: number; nodeCpuMs: number; hscans: number } | undefined;
      if (!drawn) {
        stuck = { attempts: attempts().length, nodeCpuMs: twoNodes.cost.nodesMs, hscans: twoNodes.cost.redisTop.hscan?.calls ?? 0 };
        // Only node 0 keeps waiters (so only it ticks the room): its draw is measured instead; node 1's
        // sockets join again through node 0 once it is done, for the positions.
        const moved = specs.filter((sp) => sp.port === ports[1]);
        await gens.all("qDrop", () => ({ port: ports[1] }));
        drawStartedAt = Date.now();
        ({ r: drawn, cost: drawCost } = await waitDrawn(60_000));
        if (drawn) await connect(moved.map((sp) => ({ ...sp, port: ports[0]! })));
      }
      const drawnAt = Number((await env.redis.hget(rk.meta, "drawnAt")) ?? NaN);
      for (let i = 0; i < 40 && !logs.some((l) => l.msg === "waiting room drawn" && l.eventId === eventId); i++) await sleep(50);
      const drawLog = logs.find((l) => l.msg === "waiting room drawn" && l.eventId === eventId);
      const queued = await env.redis.zcard(rk.queue);
      const evalsha = (drawCost.redisTop.evalsha?.usec ?? 0) + (drawCost.redisTop.eval?.usec ?? 0);
      // The draw also reads the pre-queue with HSCAN (not a script).
      const hscanUs = drawCost.redisTop.hscan?.usec ?? 0;
      const drawSlow = await slowCalls(drawWindowAt, eventId);
      const longest = drawSlow.reduce<{ ms: number; what: string } | undefined>((a, c) => (!a || c.ms > a.ms ? c : a), undefined);
      const evalCalls = (drawCost.redisTop.evalsha?.calls ?? 0) + (drawCost.redisTop.eval?.calls ?? 0);
      const us = (cmd: string) => drawCost.redisTop[cmd]?.usec ?? 0;
      // Positions while the room admits: everyone's place moves every second.
      let spread = { p10: 0, p50: 0, max: 0 };
      let positions: { cost: Cost; waiterSeconds: number; pushes: number; waiting: number; turns0: number; slowTicks: number; slowestTickMs: number } | undefined;
      if (drawn) {
        for (let i = 0; i < 50; i++) {
          const m = await gens.all<{ positioned: number }>("qMark");
          if (m.reduce((s, x) => s + x.positioned, 0) >= joined.opened) break;
          await sleep(100);
        }
        await sleep(1000);
        type Mark = { positionPushes: number; waiting: number; each: number[] };
        const m0 = await gens.all<Mark>("qMark");
        const windowAt = Date.now();
        const turns0 = await env.redis.zcard(rk.admitted);
        const { r: m1, cost } = await measure(async () => {
          await sleep(size.positionSeconds * 1000);
          return gens.all<Mark>("qMark");
        });
        // Pushes each waiter got in the window (clients are only ever appended to a generator's list).
        const each = m1.flatMap((m, g) => m.each.map((n, i) => n - (m0[g]!.each[i] ?? 0))).sort((a, b) => a - b);
        spread = { p10: each[Math.floor(each.length * 0.1)] ?? 0, p50: each[Math.floor(each.length / 2)] ?? 0, max: each[each.length - 1] ?? 0 };
        const sum = (ms: Mark[], k: "positionPushes" | "waiting") => ms.reduce((s, x) => s + x[k], 0);
        const waiting = (sum(m0, "waiting") + sum(m1, "waiting")) / 2;
        // Each tick walks every admitted buyer whose turn runs: how long the slowest took (the slow log keeps calls over 10 ms).
        const slowTicks = (await slowCalls(windowAt, eventId)).filter((c) => c.what === "tick");
        positions = { cost, waiterSeconds: (waiting * cost.wallMs) / 1000, pushes: sum(m1, "positionPushes") - sum(m0, "positionPushes"), waiting, turns0, slowTicks: slowTicks.length, slowestTickMs: Math.max(0, ...slowTicks.map((c) => c.ms)) };
      }
      const admittedTotal = Number((await env.redis.hget(rk.meta, "admittedTotal")) ?? 0);
      const admittedSet = await env.redis.zcard(rk.admitted);
      const w = (await results()).waiters;
      await gens.all("qCloseAll");

      const drawRedisMs = (evalsha + hscanUs) / 1000;
      const perEntrantUs = (evalsha + hscanUs) / Math.max(1, entrants);
      const at100k = (perEntrantUs * 100_000) / 1000;
      const firstPos = new Histogram();
      for (const t of w.firstPositionAt) firstPos.add(t - drawnAt);
      const drawChecks: Check[] = [
        { name: "sockets joined", ok: joined.failed === 0 && joined.opened === sockets, detail: `${joined.opened}/${sockets} (${joined.failed} failed)` },
        { name: "pre-queue before the draw", ok: (joined.states.pre_queue ?? 0) === joined.opened && joined.withPosition === 0, detail: JSON.stringify(joined.states) },
        {
          name: "draw completed with both nodes ticking",
          ok: !stuck,
          detail: stuck
            ? `not drawn within ${f1(drawTimeout / 1000)} s of sales_open_at: ${stuck.attempts} draws begun and taken over by the other node ("waiting room drawn by this node" with 0 entrants), ${stuck.hscans} HSCANs, ${f1(stuck.nodeCpuMs)} ms ws-node CPU; ${drawn ? "drawn by one node once the other's sockets left" : "not even by one node"}`
            : `${attempts().length} draw begun`,
        },
        { name: "draw completed", ok: drawn, detail: drawn ? `${queued + admittedTotal} drawn of ${entrants}` : `meta ${JSON.stringify(await env.redis.hmget(rk.meta, "drawn", "drawToken", "next"))}` },
        { name: "every entrant drawn", ok: !drawn || drawLog?.entrants === entrants, detail: `log says ${drawLog?.entrants ?? "nothing"}, pre-queue had ${entrants}` },
        {
          name: `target: draw of 100,000 ≤ 2 s of Redis time${entrants === 100_000 ? "" : " (extrapolated per entrant)"}`,
          ok: drawn && at100k <= 2000,
          detail: `${stuck ? "one node: " : ""}${f1(drawRedisMs)} ms for ${entrants.toLocaleString("en-US")} (every script call in the window, and the HSCANs) = ${f1(at100k)} ms per 100,000`,
          target: true,
        },
      ];
      d.push({
        scenario: `queue: draw of ${entrants.toLocaleString("en-US")} entrants (${sockets.toLocaleString("en-US")} on sockets over 2 nodes)${stuck ? ", drawn by one node" : ""}`,
        side: "cluster",
        summary: `sockets ${f1((joined.opened * 1000) / joined.connectMs)} connects/s, ${f1((joined.opened * 1000) / joined.joinMs)} queue joins/s; ${fakes.toLocaleString("en-US")} pre-queue HSETs ${f1(hsetMs)} ms; draw ${f1(drawnAt - drawStartedAt)} ms from ${stuck ? "node 1's sockets closing" : "sales_open_at"} to drawn (node log ${drawLog?.ms ?? "—"} ms), Redis ${f1(drawRedisMs)} ms (${evalCalls} script calls in the window and ${drawCost.redisTop.hscan?.calls ?? 0} HSCANs; longest call ${longest ? `${f1(longest.ms)} ms, ${longest.what}` : "under 10 ms"}); first place pushed p50 ${f1(firstPos.pct(0.5))} ms, max ${f1(firstPos.max)} ms after the draw`,
        cpuCell: `${f1(drawCost.nodesMs)} ms ws-node CPU for the draw`,
        redisCell: `${f1(drawRedisMs)} ms scripts (${f2(perEntrantUs)} µs/entrant)`,
        figures: {
          entrants,
          socketWaiters: joined.opened,
          connectsPerS: (joined.opened * 1000) / joined.connectMs,
          queueJoinsPerS: (joined.opened * 1000) / joined.joinMs,
          joinNodeCpuUsPerSocket: (joined.cost.nodesMs * 1000) / Math.max(1, joined.opened),
          preQueueHsetMs: hsetMs,
          drawWallMs: drawnAt - drawStartedAt,
          drawOnOneNodeAfterLivelock: stuck ? "yes" : "no",
          twoNodeDrawAttempts: stuck?.attempts ?? attempts().length,
          twoNodeDrawNodeCpuMs: stuck?.nodeCpuMs ?? null,
          twoNodeDrawHscans: stuck?.hscans ?? null,
          drawPollWallMs: drawCost.wallMs,
          drawLogMs: drawLog?.ms ?? null,
          drawLogLines: logs.filter((l) => l.msg === "waiting room drawn" && l.eventId === eventId).length,
          drawRedisScriptUs: evalsha,
          drawRedisScriptCalls: evalCalls,
          drawRedisScriptUsPerEntrant: perEntrantUs,
          drawRedisMsPer100k: at100k,
          drawRedisAllUs: drawCost.redisUs,
          drawRedisZaddUs: us("zadd"),
          drawRedisZunionstoreUs: us("zunionstore"),
          drawRedisDelUs: us("del"),
          drawRedisHscanUs: us("hscan"),
          drawLongestRedisCallMs: longest?.ms ?? null,
          drawLongestRedisCallStep: longest?.what ?? null,
          drawRedisCallsOver10Ms: drawSlow.map((c) => `${c.what} ${f1(c.ms)}`).join(", "),
          drawNodeCpuMs: drawCost.nodesMs,
          drawApiWorkerCpuMs: drawCost.apiMs + drawCost.workerMs,
          firstPositionP50Ms: firstPos.pct(0.5),
          firstPositionMaxMs: firstPos.max,
        },
        cost: drawCost,
        checks: drawChecks,
      });

      const baseUs = (baseCost.nodesMs * 1000) / Math.max(1, (baseMark * baseCost.wallMs) / 1000);
      const perWaiterS = positions ? (positions.cost.nodesMs * 1000) / Math.max(1, positions.waiterSeconds) : NaN;
      /** ws-node CPU ms per second of a measured window. */
      const rate = (c: Cost) => c.nodesMs / (c.wallMs / 1000);
      // What the sockets in the pre-queue add over idle nodes, and what the pushes add over that.
      const readsUs = ((rate(baseCost) - rate(idleCost)) * 1000) / Math.max(1, baseMark);
      const aboveBase = positions ? ((rate(positions.cost) - rate(baseCost)) * 1000) / Math.max(1, positions.waiting) : NaN;
      const pushesPerWaiterS = positions ? positions.pushes / Math.max(1, positions.waiterSeconds) : NaN;
      const redisUsPerS = positions ? positions.cost.redisUs / (positions.cost.wallMs / 1000) : NaN;
      d.push({
        scenario: `queue: position pushes, ${joined.opened.toLocaleString("en-US")} waiters on sockets while the room admits (${size.positionSeconds} s)`,
        side: "cluster",
        summary: positions
          ? `${f2(perWaiterS)} µs ws-node CPU per waiter per second in all: the nodes idle ${f1(rate(idleCost))} ms/s (${f2((rate(idleCost) * 1000) / Math.max(1, positions.waiting))} µs per waiter), the pre-queue's reads (no pushes) ${f2(readsUs)} µs, the pushes ${f2(aboveBase)} µs; ${f2(pushesPerWaiterS)} position pushes per waiter per second (in ${f1(positions.cost.wallMs / 1000)} s: p10 ${spread.p10}, median ${spread.p50}, max ${spread.max} per waiter), ${f1((positions.cost.nodesMs * 1000) / Math.max(1, positions.pushes))} µs per push; ${admittedTotal.toLocaleString("en-US")} admitted so far (turns running ${positions.turns0.toLocaleString("en-US")} → ${admittedSet.toLocaleString("en-US")}: ${positions.slowTicks} ticks over 10 ms of Redis, the slowest ${f1(positions.slowestTickMs)} ms)`
          : "no draw, no positions",
        cpuCell: `${f2(perWaiterS)} µs/waiter/s`,
        redisCell: `${f1(redisUsPerS)} µs/s (ticks and position reads)`,
        figures: {
          waitersOnSockets: positions?.waiting ?? null,
          seconds: positions ? positions.cost.wallMs / 1000 : null,
          nodeCpuUsPerWaiterPerS: perWaiterS,
          baselineNodeCpuUsPerWaiterPerS: baseUs,
          nodeCpuUsPerWaiterPerSAboveBaseline: aboveBase,
          idleNodeCpuMsPerS: rate(idleCost),
          preQueueReadsNodeCpuUsPerWaiterPerS: readsUs,
          positionPushesPerWaiterPerS: pushesPerWaiterS,
          nodeCpuUsPerPush: positions ? (positions.cost.nodesMs * 1000) / Math.max(1, positions.pushes) : null,
          redisUsPerS,
          admittedTotal,
          admittedTurnsRunning: admittedSet,
          ticksOver10Ms: positions?.slowTicks ?? null,
          slowestTickMs: positions?.slowestTickMs ?? null,
          placeWentUp: w.ups,
          pushesPerWaiterInWindowP10: spread.p10,
          pushesPerWaiterInWindowP50: spread.p50,
          pushesPerWaiterInWindowMax: spread.max,
        },
        cost: positions?.cost ?? drawCost,
        checks: [
          { name: "places never go up", ok: w.ups === 0, detail: w.ups ? `${w.ups} times (e.g. ${w.upExample})` : "0" },
          { name: "every waiter told a place", ok: !drawn || w.positioned + w.admittedUsers >= joined.opened, detail: `${w.positioned} told a place, ${w.admittedUsers} admitted, of ${joined.opened}` },
          { name: "target: position updates ≤ 1 µs ws-node CPU per waiter per second", ok: perWaiterS <= 1, detail: `${f2(perWaiterS)} µs`, target: true },
        ],
      });
    }

    // ---- 2 and 3. The same drop without and with the room. ----
    const buyers = users.slice(sockets, sockets + size.buyers);
    const bots = users.slice(sockets + size.buyers, sockets + size.buyers + size.bots);
    const drop = async (room: boolean, compareTo?: DropOutcome): Promise<DropOutcome> => {
      const seats = plainSeats(size.seats);
      const eventId = await createEvent(env, seats, { salesOpenAt: later(), waitingRoom: room ? roomRecord() : undefined });
      const rk = env.keys.room(eventId);
      // Bots spread among the buyers, so each generator holds its share.
      const people: { u: BenchUser; role: "buyer" | "bot" }[] = buyers.map((u) => ({ u, role: "buyer" as const }));
      bots.forEach((u, i) => people.splice(Math.floor(((i + 0.5) * people.length) / bots.length), 0, { u, role: "bot" }));
      const specs: QueueSpec[] = people.map((p, i) => ({ port: ports[i % 2]!, token: p.u.token, eventId, role: p.role, room }));
      const joined = await connect(specs);
      const startAt = now() + 1000;
      await openSales(eventId, new Date(startAt), room);
      const samples: MetaSample[] = [];
      let sampling = room;
      const sampler = (async () => {
        while (sampling) {
          const t = now();
          const v = await env.redis.hmget(rk.meta, "drawn", "free", "empty", "shopping", "admittedTotal", "soldOut", "avg", "rateAt");
          if (v[0] === "1" && v[7] !== null)
            samples.push({ t, drawn: true, free: Number(v[1]), empty: Number(v[2]), shopping: Number(v[3]), admittedTotal: Number(v[4] ?? 0), soldOut: v[5] === "1", avg: Number(v[6]), rateAt: Number(v[7]) });
          await sleep(Math.max(0, 100 - (now() - t)));
        }
      })();
      const args: ShopArgs = {
        startAt,
        deadline: startAt + size.dropSeconds * 1000,
        api: `http://127.0.0.1:${apiPort}`,
        seats,
        thinkMinMs,
        thinkMaxMs,
        giveUpMs: 3000,
        maxAttempts: 12,
        pickBest,
        rate: env.config.WS_PUSH_RATE,
        burst: env.config.WS_PUSH_BURST,
        holdMax: env.config.HOLD_MAX_SEATS,
        webhookSecret,
      };
      const shopAt = Date.now();
      const { cost } = await measure(() => gens.all("qShop", () => args));
      // Sampling goes on for a while after the sell-out: nobody may be admitted then.
      if (room) {
        const soldOutSeen = () => samples.find((s) => s.soldOut);
        for (let i = 0; i < 30 && !soldOutSeen(); i++) await sleep(100);
        const s = soldOutSeen();
        if (s) await sleep(Math.max(0, s.t + 1500 - now()));
        sampling = false;
        await sampler;
      }
      const r = await results();
      const meta = room ? await env.redis.hgetall(rk.meta) : {};
      const slow = await slowCalls(shopAt, eventId);
      const slowBy: Record<string, { n: number; maxMs: number }> = {};
      for (const c of slow) slowBy[c.what] = { n: (slowBy[c.what]?.n ?? 0) + 1, maxMs: Math.max(slowBy[c.what]?.maxMs ?? 0, c.ms) };
      await gens.all("qCloseAll");
      const sold = await env.db.sql<{ seat_id: string; n: number }[]>`
        select i.seat_id, count(*)::int as n from order_items i join orders o on o.id = i.order_id
        where o.event_id = ${eventId} and o.status = 'paid' group by i.seat_id`;
      const seatsSold = sold.length;
      const soldTwice = sold.filter((x) => x.n > 1).length;
      const h = r.humans;
      const rtt = hist(h.rtt);
      const botRtt = hist(r.botRtt);
      const botSeats = r.bots.reduce((s, b) => s + b.seats, 0);
      const botRefused = r.bots.reduce((s, b) => s + b.refused, 0);
      const botLocks = r.bots.reduce((s, b) => s + b.locksOk + b.refused, 0);
      // The last seat sold: when PostgreSQL marked the last order paid (the buyer hears it later).
      const [{ t: lastPaid } = { t: null }] = await env.db.sql<{ t: Date | null }[]>`select max(paid_at) as t from orders where event_id = ${eventId} and status = 'paid'`;
      const lastPaidAt = lastPaid ? new Date(lastPaid).getTime() : Math.max(h.lastPaidAt, ...r.bots.map((b) => b.lastPaidAt));
      const out: DropOutcome = {
        seatsSold,
        soldTwice,
        humanRefused: h.refused,
        humanLocks: h.locksOk + h.refused,
        refusedPerSold: h.refused / Math.max(1, seatsSold),
        p50: rtt.pct(0.5),
        p99: rtt.pct(0.99),
        seatsPerHuman: h.seats / Math.max(1, h.n),
        seatsPerBot: botSeats / Math.max(1, r.bots.length),
        humansWithSeats: h.withSeats,
      };
      const reasons = Object.entries(h.reasons)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${v}`)
        .join(", ");
      const allLocks = out.humanLocks + botLocks;
      const checks: Check[] = [
        { name: "clients joined", ok: joined.failed === 0 && joined.opened === specs.length, detail: `${joined.opened}/${specs.length} (${joined.failed} failed)` },
        { name: "no seat sold twice", ok: soldTwice === 0, detail: `${soldTwice}` },
        { name: "orders and payments", ok: Object.keys(h.orderFails).length === 0, detail: JSON.stringify(h.orderFails) },
      ];
      const figures: Row["figures"] = {
        buyers: h.n,
        bots: r.bots.length,
        seats: seats.length,
        seatsSold,
        soldTwice,
        soldOutAfterS: seatsSold === seats.length ? (lastPaidAt - startAt) / 1000 : null,
        humanLocks: out.humanLocks,
        humanRefused: h.refused,
        refusedPerSoldSeat: out.refusedPerSold,
        refusedReasons: reasons,
        lockP50Ms: out.p50,
        lockP99Ms: out.p99,
        lockMaxMs: rtt.max,
        botLockP99Ms: botRtt.pct(0.99),
        humansWithSeats: h.withSeats,
        seatsPerHuman: out.seatsPerHuman,
        seatsPerBot: out.seatsPerBot,
        botSeats: r.bots.map((b) => b.seats).join(" "),
        botLocks,
        botRefused,
        botRateLimited: r.bots.reduce((s, b) => s + b.rateLimited, 0),
        botFirstLockAfterOpenMs: r.bots.map((b) => (b.firstLockAt ? Math.round(b.firstLockAt - startAt) : "—")).join(" "),
        orders: h.orders + r.bots.reduce((s, b) => s + b.orders, 0),
        serverCpuUsPerLock: (cost.nodesMs * 1000) / Math.max(1, allLocks),
        apiCpuMsPerOrder: cost.apiMs / Math.max(1, h.orders),
        redisUsPerLock: cost.redisUs / Math.max(1, allLocks),
        redisCallsOver10Ms: Object.entries(slowBy)
          .map(([k, v]) => `${k} ${v.n}× (max ${f1(v.maxMs)} ms)`)
          .join(", "),
      };
      let summaryTail = "";
      if (room) {
        const admittedTotal = Number(meta.admittedTotal ?? 0);
        // Buyers with empty holds never above the free seats.
        const over = samples.filter((s) => s.empty > Math.max(0, s.free));
        const worst = (xs: MetaSample[]) => xs.reduce((a, b) => (b.empty - b.free > a.empty - a.free ? b : a));
        // No tick admits while the buyers with empty holds already cover the free seats: after a tick
        // that admitted, empty ≤ ⌈free / avg⌉ (so nobody is admitted while free ≤ 0).
        const ticks: MetaSample[] = [];
        for (const s of samples) if (!ticks.length || ticks[ticks.length - 1]!.rateAt !== s.rateAt) ticks.push(s);
        let overAdmitted = 0;
        let overExample = "";
        let paused = 0;
        for (let i = 1; i < ticks.length; i++) {
          const a = ticks[i]!;
          const admitted = a.admittedTotal - ticks[i - 1]!.admittedTotal;
          if (admitted > 0 && a.empty > Math.max(0, ceilDiv(a.free, a.avg))) {
            overAdmitted++;
            overExample ||= `tick admitted ${admitted} with ${a.free} free, ${a.empty} empty holds after, avg ${a.avg.toFixed(2)}`;
          }
          if (admitted === 0 && !a.soldOut && a.free > 0 && a.empty * a.avg >= a.free) paused++;
        }
        const freeZeroTicks = ticks.filter((t) => t.free <= 0 && !t.soldOut).length;
        const firstSoldOut = samples.findIndex((s) => s.soldOut);
        const afterSellOut = firstSoldOut >= 0 ? samples.slice(firstSoldOut).filter((s) => s.admittedTotal !== samples[firstSoldOut]!.admittedTotal).length : 0;
        const sampledAfterMs = firstSoldOut >= 0 ? samples[samples.length - 1]!.t - samples[firstSoldOut]!.t : 0;
        const soldOut = seatsSold === seats.length;
        const told = new Histogram();
        for (const t of r.waiters.soldOutAt) told.add(t - lastPaidAt);
        const untold = r.waiters.n - r.waiters.admittedUsers - r.waiters.soldOutAt.length;
        checks.push(
          { name: "meta sampled", ok: samples.length >= 10, detail: `${samples.length} samples, ${ticks.length} ticks` },
          // Guaranteed when a tick admits (the next check); between admissions buyers already holding
          // seats may take more, so buyers with an empty hold can then outnumber the free seats: reported.
          { name: "empty holds ≤ free seats between admissions (informational)", informational: true, ok: over.length === 0, detail: over.length ? `${over.length} of ${samples.length} samples, e.g. ${worst(over).empty} empty holds with ${worst(over).free} free (the room's mean seats per buyer then ${worst(over).avg.toFixed(2)}; ${worst(over).shopping} shopping)` : `max ${Math.max(0, ...samples.map((s) => s.empty))} empty holds` },
          { name: "no admission while holds cover the free seats", ok: overAdmitted === 0, detail: overAdmitted ? `${overAdmitted} ticks (${overExample})` : `${paused} ticks paused with holds covering the free seats, ${freeZeroTicks} with none free` },
          { name: "0 admissions after sell-out", ok: afterSellOut === 0 && (!soldOut || firstSoldOut >= 0), detail: firstSoldOut >= 0 ? `${afterSellOut} samples admitted more, over ${f1(sampledAfterMs)} ms after` : soldOut ? "sold out, but the room never said so" : "not sold out" },
          { name: "places never go up", ok: r.waiters.ups === 0, detail: r.waiters.ups ? `${r.waiters.ups} times (e.g. ${r.waiters.upExample})` : `${r.waiters.positionPushes} position pushes` },
          { name: "every waiter admitted or told sold_out", ok: !soldOut || untold === 0, detail: `${r.waiters.admittedUsers} admitted, ${r.waiters.soldOutAt.length} told sold_out, ${untold} neither` },
          { name: "admitted told once each, as the room counts", ok: r.waiters.admittedTwice === 0 && r.waiters.admittedUsers === admittedTotal, detail: `${r.waiters.admittedUsers} told, room counts ${admittedTotal}, ${r.waiters.admittedTwice} told twice` },
          { name: "passes accepted", ok: h.passRefused === 0 && Object.keys(h.joinFails).length === 0, detail: `${h.passRefused} refused; join failures ${JSON.stringify(h.joinFails)}` },
        );
        Object.assign(figures, {
          admittedTotal,
          metaSamples: samples.length,
          maxEmptyHolds: Math.max(0, ...samples.map((s) => s.empty)),
          maxEmptyHoldsAboveFree: Math.max(0, ...samples.map((s) => s.empty - Math.max(0, s.free))),
          admittedHumansWithoutSeats: h.admitted - h.withSeats,
          maxShopping: Math.max(0, ...samples.map((s) => s.shopping)),
          pausedTicks: paused,
          freeZeroTicks,
          soldOutPushes: r.waiters.soldOutAt.length,
          soldOutAfterLastPaymentP50Ms: told.pct(0.5),
          soldOutAfterLastPaymentMaxMs: told.n ? told.max : null,
          positionPushes: r.waiters.positionPushes,
        });
        summaryTail = `; ${admittedTotal} admitted, max ${figures.maxEmptyHolds} empty holds, ${paused} paused ticks; sold_out ≤ ${f1(told.max)} ms after the last payment (target 1 s: ${told.n && told.max <= 1000 ? "met" : "missed"})`;
        if (told.n) checks.push({ name: "target: sold_out within 1 s of the last seat sold", ok: told.max <= 1000, detail: `max ${f1(told.max)} ms, p50 ${f1(told.pct(0.5))} ms over ${told.n} waiters`, target: true });
      }
      if (compareTo) {
        const ratio = compareTo.refusedPerSold / Math.max(1e-9, out.refusedPerSold);
        figures.refusedPerSoldWithout = compareTo.refusedPerSold;
        figures.refusedFewerX = ratio;
        figures.lockP99WithoutMs = compareTo.p99;
        figures.seatsPerBotWithout = compareTo.seatsPerBot;
        figures.seatsPerHumanWithout = compareTo.seatsPerHuman;
        checks.push({ name: "target: refused locks per sold seat ≥ 10× fewer with the room", ok: ratio >= 10, detail: `${f2(out.refusedPerSold)} with, ${f2(compareTo.refusedPerSold)} without: ${f1(ratio)}×`, target: true });
        summaryTail += `; refused per sold seat ${f1(ratio)}× fewer than without (${f2(compareTo.refusedPerSold)}), lock p99 ${f1(compareTo.p99)} ms without; a bot got ${f1(compareTo.seatsPerBot)} seats without the room`;
      }
      d.push({
        scenario: `queue drop: ${h.n.toLocaleString("en-US")} buyers + ${r.bots.length} bot${r.bots.length === 1 ? "" : "s"}, ${seats.length.toLocaleString("en-US")} seats, ${room ? "through the waiting room" : "no waiting room"}`,
        side: "cluster",
        summary: `${seatsSold}/${seats.length} sold${figures.soldOutAfterS !== null ? ` in ${f1(figures.soldOutAfterS as number)} s` : ""}; ${f2(out.refusedPerSold)} refused locks per sold seat (${reasons || "none"}); lock p50 ${f1(out.p50)} ms, p99 ${f1(out.p99)} ms; ${f2(out.seatsPerHuman)} seats per human (${h.withSeats} of ${h.n} got some), ${f1(out.seatsPerBot)} per bot${summaryTail}${slow.length ? `; Redis calls of this event over 10 ms: ${figures.redisCallsOver10Ms}` : ""}`,
        cpuCell: `${f1(figures.serverCpuUsPerLock as number)} µs ws-node/lock, ${f1(figures.apiCpuMsPerOrder as number)} ms API/order`,
        redisCell: `${f1(figures.redisUsPerLock as number)} µs/lock (all commands)`,
        figures,
        cost,
        checks,
      });
      return out;
    };
    // BENCH_QUEUE_DROP=0: the draw and the positions only.
    if (process.env.BENCH_QUEUE_DROP !== "0") {
      const without = await drop(false);
      await drop(true, without);
    }
  } finally {
    for (const p of procs) p.proc.kill("SIGTERM");
    await sleep(1000);
    for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill("SIGKILL");
  }
}
