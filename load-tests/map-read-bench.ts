/**
 * The `reads` scenario of `npm run bench` (docs/reliability.md, round two, findings 2 and 3: a
 * 100,000-seat map cannot be used as an amplifier). An API and a ws-node as their own processes,
 * stock limits and push rates, one 100,000-seat venue (20,000 with --quick), and:
 * - three HTTP clients looping `GET /api/events/:id/seats` back to back (plain, then gzip), first
 *   with the map still, then during a drop (a seat changing every few milliseconds, so nearly every
 *   read finds a new seq), while a fourth asks `/healthz` every 20 ms: the API's CPU per read and
 *   the health check's p99 (targets: ≤ 30 ms a repeated read, p99 ≤ 150 ms);
 * - one anonymous socket asking for the whole map (a join without `changes`) 20 times back to back:
 *   the ws-node's CPU for all 20 (target ≤ 2 s), how many were answered and how many refused.
 * The clients are on loopback, which LIMIT_EXEMPT_IPS exempts from the per-address read limit, so
 * every read is served: the figures are the cost of a read itself, not of a refusal.
 */
import { request, Agent } from "node:http";
import { createLogger } from "@seatdrop/observability";
import { SeatService } from "@seatdrop/seats";
import { RawPhx, phxUrl } from "../test/support/raw-phx.ts";
import type { TestEnv } from "../test/support/test-env.ts";
import { createEvent, venue } from "./lib/fixtures.ts";
import { now } from "./lib/generator.ts";
import { Histogram } from "./lib/histogram.ts";
import { freePort, serverEnv, sleep, startServer } from "./lib/procs.ts";
import { measureCost, type Row } from "./lib/rows.ts";

export interface MapReadBenchDeps {
  env: TestEnv;
  quick: boolean;
  push: (row: Row) => void;
}

const f1 = (n: number) => (n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString("en-US"));

export async function mapReadBench({ env, quick, push }: MapReadBenchDeps): Promise<void> {
  const num = (name: string, full: number, q: number) => Number(process.env[name] ?? (quick ? q : full));
  const seconds = num("BENCH_READS_SECONDS", 8, 2);
  const rows = num("BENCH_READS_ROWS", 100, 20); // 20 sections × rows × 50 seats
  const seatIds = venue(20, rows, 50);
  const apiPort = await freePort();
  const wsPort = await freePort();
  // The admin the main cluster's API made in this database (an API refuses to start when the name "admin" is someone else's).
  const childEnv = serverEnv(env, { LOG_LEVEL: "warn", ADMIN_EMAIL: "admin@bench.local", ADMIN_PASSWORD: "bench-admin-password" });
  const api = await startServer("apps/api/src/main.ts", { ...childEnv, API_PORT: String(apiPort) }, apiPort);
  const node = await startServer("apps/ws-node/src/main.ts", { ...childEnv, WS_PORT: String(wsPort), NODE_ID: "reads-0" }, wsPort);
  const seats = new SeatService({ redis: env.redis, keys: env.keys, config: env.config, logger: createLogger("reads-bench", "warn"), db: env.db.db });
  try {
    const eventId = await createEvent(env, seatIds);
    await seats.events.ensureEventLoaded(eventId);
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const get = (path: string, gzip = false) => httpGet(agent, apiPort, path, gzip);
    // Warm: the first reads load and encode the layout; what is measured is the repeated read.
    await get(`/api/events/${eventId}/seats`, true);
    await get(`/api/events/${eventId}/layout`, true);
    const label = `${seatIds.length.toLocaleString("en-US")}-seat map`;
    for (const drop of [false, true])
      for (const gzip of [false, true]) {
        const phase = () => loopReads({ get, eventId, seconds, gzip, change: drop ? () => changeOneSeat(seats, eventId, seatIds) : undefined });
        const { r, cost } = await measureCost(env.redis, { nodes: [], worker: [], api: [api.pid!], gens: [] }, phase);
        const perRead = cost.apiMs / r.reads;
        push({
          scenario: `reads: 3 clients looping GET /seats of a ${label}${gzip ? ", gzip" : ""}${drop ? `, during a drop (${r.changes} seat changes)` : ", map still"}`,
          side: "cluster",
          summary: `${r.reads} reads (${f1(r.mb)} MB), ${f1(perRead)} ms of API CPU a read; /healthz p50 ${f1(r.health.pct(0.5))} ms, p99 ${f1(r.health.pct(0.99))} ms, max ${f1(r.health.max)} ms`,
          figures: { reads: r.reads, apiMsPerRead: perRead, healthP99Ms: r.health.pct(0.99), healthMaxMs: r.health.max, megabytes: r.mb, changes: r.changes },
          cost,
          cpuCell: `${f1(perRead)} ms/read`,
          checks: [
            { name: "every read answered 200", ok: r.failed === 0, detail: `${r.failed} failed` },
            { name: "target: ≤ 30 ms of API CPU a read", ok: perRead <= 30, detail: `${f1(perRead)} ms`, target: true },
            { name: "target: /healthz p99 ≤ 150 ms", ok: r.health.pct(0.99) <= 150, detail: `${f1(r.health.pct(0.99))} ms`, target: true },
          ],
        });
      }
    agent.destroy();
    await wholeMapJoins({ env, wsPort, nodePid: node.pid!, eventId, label, push });
  } finally {
    api.kill("SIGTERM");
    node.kill("SIGTERM");
    await sleep(500);
  }
}

/** Three clients reading the map back to back and a health check every 20 ms, for `seconds`; `change` runs between reads of the changer. */
async function loopReads(o: { get: (path: string, gzip?: boolean) => Promise<{ status: number; bytes: number }>; eventId: string; seconds: number; gzip: boolean; change?: () => Promise<void> }) {
  const until = now() + o.seconds * 1000;
  const health = new Histogram();
  let reads = 0;
  let failed = 0;
  let bytes = 0;
  let changes = 0;
  const reader = async () => {
    while (now() < until) {
      const r = await o.get(`/api/events/${o.eventId}/seats`, o.gzip);
      reads++;
      bytes += r.bytes;
      if (r.status !== 200) failed++;
    }
  };
  const prober = async () => {
    while (now() < until) {
      const t = now();
      await o.get("/healthz");
      health.add(now() - t);
      await sleep(20);
    }
  };
  // During a drop: a seat changes every 5 ms or so (about 200 a second), so most reads find a new seq.
  const changer = async () => {
    while (o.change && now() < until) {
      await o.change();
      changes++;
      await sleep(5);
    }
  };
  await Promise.all([reader(), reader(), reader(), prober(), changer()]);
  return { reads, failed, mb: bytes / 1e6, health, changes };
}

/** Reserves a random seat, or frees it if it was reserved: the map moves, the sold count does not grow. */
async function changeOneSeat(seats: SeatService, eventId: string, seatIds: string[]): Promise<void> {
  const seatId = seatIds[Math.floor(Math.random() * seatIds.length)]!;
  try {
    await seats.setSeatState({ eventId, seatId, action: "reserve" });
  } catch {
    await seats.setSeatState({ eventId, seatId, action: "unreserve" });
  }
}

/** One anonymous socket asking for the whole map 20 times back to back: the ws-node's CPU, answers and refusals. */
async function wholeMapJoins(o: { env: TestEnv; wsPort: number; nodePid: number; eventId: string; label: string; push: (row: Row) => void }) {
  const c = new RawPhx(phxUrl(o.wsPort));
  await c.opened();
  const { r, cost } = await measureCost(o.env.redis, { nodes: [o.nodePid], worker: [], api: [], gens: [] }, async () => {
    let answered = 0;
    let refused = 0;
    let bytes = 0;
    for (let i = 0; i < 20; i++) {
      const before = c.raw.length;
      const { reply } = await c.join(`seats:${o.eventId}`);
      if (reply.status === "ok") answered++;
      else if (reply.response.reason === "rate_limited") refused++;
      for (const text of c.raw.slice(before)) bytes += text.length;
    }
    return { answered, refused, bytes };
  });
  c.close();
  o.push({
    scenario: `reads: 20 whole-map joins (no changes) of the ${o.label} from one anonymous socket, back to back`,
    side: "cluster",
    summary: `${r.answered} answered with the whole map, ${r.refused} rate_limited, ${f1(r.bytes / 1e6)} MB sent; ${f1(cost.nodesMs)} ms of ws-node CPU in all`,
    figures: { answered: r.answered, refused: r.refused, megabytes: r.bytes / 1e6, nodeMs: cost.nodesMs },
    cost,
    cpuCell: `${f1(cost.nodesMs)} ms`,
    checks: [
      { name: "every join answered", ok: r.answered + r.refused === 20, detail: `${r.answered} + ${r.refused}` },
      { name: "target: ≤ 2 s of ws-node CPU for the 20", ok: cost.nodesMs <= 2000, detail: `${f1(cost.nodesMs)} ms`, target: true },
    ],
  });
}

/** A GET on loopback whose body is counted and dropped (the generator does not parse 9 MB). */
function httpGet(agent: Agent, port: number, path: string, gzip: boolean): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent, headers: gzip ? { "accept-encoding": "gzip" } : {} }, (res) => {
      let bytes = 0;
      res.on("data", (chunk: Buffer) => (bytes += chunk.length));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
