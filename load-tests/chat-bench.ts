/**
 * Chat at concert scale: `npx tsx load-tests/chat-bench.ts`.
 *
 * Two ws-nodes as separate processes, raw Phoenix V2 clients spread over both, the generator on the
 * same cores, per-user chat limits lifted. Scenarios:
 *   1. join storm: BENCH_CHAT_MEMBERS (2000) sockets connect, then all join one active room at once;
 *      time until every join is answered and until sampled members' presence lists everyone; frames
 *      and bytes each member received; ws-node CPU; sockets closed right after `open` (the upgrade
 *      race) while connecting.
 *   2. messaging: those members send BENCH_CHAT_RATE (200) messages/s for BENCH_CHAT_SECONDS (10):
 *      ack latency, refusals (`rate_limited`), delivery latency at sampled members, ws-node CPU per
 *      delivery (from /proc), the generator's own CPU, and persisted = acked.
 * BENCH_CHAT_BATCH=1 joins with `{"batch": true}` (one `messages` frame per tick). The machine's cores
 * are shared with the generator (and, here, with other work): CPU per operation is the figure to
 * compare; wall-clock latencies are floors. Every loop is bounded and talks to 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { eq, sql } from "drizzle-orm";
import WebSocket from "ws";
import { createTokenSigner } from "@seatdrop/auth";
import { messages, tickets, users } from "@seatdrop/db";
import { decodePhx, encodePhx } from "@seatdrop/protocol";
import { createChatEvent, syncEventRoom } from "../apps/ws-node/test/chat-support.ts";
import { createTestEnv, type TestEnv } from "../test/support/test-env.ts";
import { serverEnv } from "./lib/procs.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const MEMBERS = Number(process.env.BENCH_CHAT_MEMBERS ?? 2000);
const RATE = Number(process.env.BENCH_CHAT_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_CHAT_SECONDS ?? 10);
const BATCH = process.env.BENCH_CHAT_BATCH === "1";
/** Members that parse every frame (latency, presence); the others only count frames and bytes. */
const SAMPLED = 20;
const TICK = Number(process.env.CLK_TCK ?? 100);
/** Broken promises (not speed): the run exits 1 when any is found. */
const failed: string[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
const f1 = (n: number) => (n < 10 ? n.toFixed(1) : n.toFixed(0));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startProcess(entry: string, env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", ...(process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), entry], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      /* starting */
    }
    await sleep(100);
  }
  throw new Error(`${entry} did not start`);
}

/** CPU seconds (user + system) a set of processes used so far, from /proc. */
async function cpuSeconds(pids: number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / TICK;
}
const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

interface Member {
  userId: string;
  ws: WebSocket;
  sampled: boolean;
  frames: number;
  bytes: number;
  presenceFrames: number;
  joinedAt?: number;
  presence: Map<string, Set<string>>;
  /** `presence_count` in a room above CHAT_PRESENCE_LIST_MAX (the list then holds speakers only). */
  online: number;
  pending: Map<string, (r: { status: string; response: Record<string, unknown> }) => void>;
  ref: number;
  gotFrame: boolean;
}

const deliveryLatency: number[] = [];
/** Bytes and frames by event name, at the sampled members (where the bytes of the storm go). */
const byEvent = new Map<string, { frames: number; bytes: number }>();

function onFrame(m: Member, topic: string, data: Buffer): void {
  m.frames++;
  m.bytes += data.length;
  m.gotFrame = true;
  const isReply = data.indexOf("phx_reply") >= 0;
  const isPresence = data.indexOf('"presence_') >= 0;
  // Every member counts its presence in a large room (one small frame per tick).
  if (!m.sampled && data.indexOf('"presence_count"') >= 0) m.online = Number(/"online":(\d+)/.exec(data.toString())?.[1] ?? 0);
  if (isPresence) m.presenceFrames++;
  if (!isReply && !m.sampled) return;
  const d = decodePhx(data.toString());
  if (!d.ok) return;
  const [, r, t, event, payload] = d.frame;
  if (t !== topic && t !== "phoenix") return;
  const now = Date.now();
  if (m.sampled) {
    const e = byEvent.get(event) ?? { frames: 0, bytes: 0 };
    e.frames++;
    e.bytes += data.length;
    byEvent.set(event, e);
  }
  if (event === "phx_reply" && r) {
    m.pending.get(r)?.(payload as { status: string; response: Record<string, unknown> });
    m.pending.delete(r);
  } else if (event === "presence_state") {
    m.presence.clear();
    for (const [u, v] of Object.entries(payload as Record<string, { metas: { phx_ref: string }[] }>)) m.presence.set(u, new Set(v.metas.map((x) => x.phx_ref)));
  } else if (event === "presence_diff") {
    const p = payload as { joins: Record<string, { metas: { phx_ref: string }[] }>; leaves: Record<string, { metas: { phx_ref: string }[] }> };
    for (const [u, v] of Object.entries(p.joins)) {
      const s = m.presence.get(u) ?? new Set<string>();
      for (const x of v.metas) s.add(x.phx_ref);
      m.presence.set(u, s);
    }
    for (const [u, v] of Object.entries(p.leaves)) {
      const s = m.presence.get(u);
      if (!s) continue;
      for (const x of v.metas) s.delete(x.phx_ref);
      if (s.size === 0) m.presence.delete(u);
    }
  } else if (event === "presence_count") {
    m.online = Number(payload.online);
  } else if (event === "new_message") {
    const c = String(payload.content ?? "");
    if (c.startsWith("b:")) deliveryLatency.push(now - Number(c.split(":")[1]));
  } else if (event === "messages") {
    for (const x of (payload.messages ?? []) as { content: string }[]) if (x.content.startsWith("b:")) deliveryLatency.push(now - Number(x.content.split(":")[1]));
  }
}

function send(m: Member, topic: string, event: string, payload: Record<string, unknown>): Promise<{ status: string; response: Record<string, unknown> }> {
  const r = String(++m.ref);
  return new Promise((resolve) => {
    m.pending.set(r, resolve);
    m.ws.send(encodePhx("1", r, topic, event, payload));
  });
}

async function main() {
  const env: TestEnv = await createTestEnv({ LOG_LEVEL: "warn" });
  const procs: ChildProcess[] = [];
  const rows: [string, string][] = [];
  let closedAfterOpen = 0;
  try {
    const ports = [await freePort(), await freePort()];
    const childEnv = serverEnv(env, {
      WS_PUSH_RATE: "100000",
      WS_PUSH_BURST: "100000",
      CHAT_RATE: "1000000",
      CHAT_TYPING_THROTTLE_MS: "0",
    });
    for (const [i, port] of ports.entries()) procs.push(await startProcess("apps/ws-node/src/main.ts", { ...childEnv, WS_PORT: String(port), NODE_ID: `chat-bench-${i}` }, port));
    const pids = procs.map((p) => p.pid!);

    // One active room, MEMBERS ticket holders.
    const { eventId, roomId } = await createChatEvent(env, { startInMs: 60_000 });
    await syncEventRoom(env, eventId);
    const topic = `event:${eventId}`;
    const signer = createTokenSigner(env.config);
    const ids = Array.from({ length: MEMBERS }, () => randomUUID());
    for (let i = 0; i < ids.length; i += 1000) {
      const chunk = ids.slice(i, i + 1000);
      await env.db.db.insert(users).values(chunk.map((id) => ({ id, username: `u-${id}`, email: `${id}@bench.local`, passwordHash: "scrypt$unused", role: "user" as const })));
      await env.db.db.insert(tickets).values(chunk.map((id) => ({ eventId, ticketNumber: `B-${id}`, userId: id })));
    }
    const tokens = await Promise.all(ids.map((id) => signer.sign({ sub: id, role: "user" })));

    // Connect everyone (in waves of 200), counting sockets the server closed before any frame.
    const members: Member[] = [];
    for (let i = 0; i < MEMBERS; i += 200) {
      await Promise.all(
        ids.slice(i, i + 200).map(async (userId, j) => {
          const idx = i + j;
          const ws = new WebSocket(`ws://127.0.0.1:${ports[idx % 2]}/socket/websocket?vsn=2.0.0&token=${tokens[idx]}`, { perMessageDeflate: false });
          const m: Member = { userId, ws, sampled: idx < SAMPLED, frames: 0, bytes: 0, presenceFrames: 0, presence: new Map(), online: 0, pending: new Map(), ref: 1, gotFrame: false };
          ws.on("message", (data: Buffer) => onFrame(m, topic, data));
          ws.on("close", (code) => {
            if (!m.gotFrame && code === 1006) closedAfterOpen++;
          });
          await new Promise<void>((resolve, reject) => {
            ws.once("open", () => resolve());
            ws.once("error", reject);
          });
          members.push(m);
        }),
      );
    }
    await sleep(300);

    // 1. Join storm.
    const cpu0 = await cpuSeconds(pids);
    const gen0 = selfCpu();
    const t0 = Date.now();
    const joinRefusals = new Map<string, number>();
    const joined = members.map(
      (m) =>
        new Promise<void>((resolve) => {
          m.pending.set("1", (r) => {
            if (r.status === "ok") m.joinedAt = Date.now();
            else joinRefusals.set(String(r.response.reason), (joinRefusals.get(String(r.response.reason)) ?? 0) + 1);
            resolve();
          });
          m.ws.send(encodePhx("1", "1", topic, "phx_join", BATCH ? { batch: true } : {}));
        }),
    );
    await Promise.all(joined);
    const allJoined = Date.now() - t0;
    const refusedJoins = members.filter((m) => !m.joinedAt).length;
    const sampled = members.filter((m) => m.sampled);
    let presenceDone = NaN;
    for (let i = 0; i < 1200; i++) {
      if (sampled.every((m) => m.presence.size === MEMBERS || m.online === MEMBERS)) {
        presenceDone = Date.now() - t0;
        break;
      }
      await sleep(50);
    }
    // Let the last diffs land before counting.
    let last = -1;
    for (let i = 0; i < 100; i++) {
      const n = members.reduce((a, m) => a + m.frames, 0);
      if (n === last) break;
      last = n;
      await sleep(300);
    }
    const stormCpu = (await cpuSeconds(pids)) - cpu0;
    const stormGen = selfCpu() - gen0;
    const frames = members.reduce((a, m) => a + m.frames, 0);
    const bytes = members.reduce((a, m) => a + m.bytes, 0);
    const pframes = members.reduce((a, m) => a + m.presenceFrames, 0);
    rows.push([
      `join storm, ${MEMBERS} members`,
      `all joined ${f1(allJoined / 1000)} s (refused ${refusedJoins}${refusedJoins ? ` ${JSON.stringify(Object.fromEntries(joinRefusals))}` : ""}); sampled members' presence (list or presence_count) complete ${f1(presenceDone / 1000)} s; per member ${f1(frames / MEMBERS)} frames (${f1(pframes / MEMBERS)} presence), ${f1(bytes / MEMBERS / 1024)} KiB; ws-node CPU ${stormCpu.toFixed(2)} s, generator CPU ${stormGen.toFixed(2)} s`,
    ]);
    rows.push([
      `join storm at ${SAMPLED} sampled members, by event`,
      [...byEvent].map(([k, v]) => `${k}: ${f1(v.frames / SAMPLED)} frames, ${f1(v.bytes / SAMPLED / 1024)} KiB`).join("; "),
    ]);
    rows.push([`sockets closed right after open while connecting ${MEMBERS}`, String(closedAfterOpen)]);

    // 2. Messaging.
    const ackLatency: number[] = [];
    let acked = 0;
    let refused = 0;
    let otherErrors = 0;
    const errorReasons = new Map<string, number>();
    const retryAfter: number[] = [];
    deliveryLatency.length = 0;
    const cpu1 = await cpuSeconds(pids);
    const gen1 = selfCpu();
    const inflight: Promise<void>[] = [];
    const senders = members.filter((m) => m.joinedAt);
    const total = RATE * SECONDS;
    const start = Date.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((Date.now() - start) / 1000) * RATE));
      for (; sent < due; sent++) {
        const m = senders[(sent * 7919) % senders.length]!;
        const at = Date.now();
        inflight.push(
          send(m, topic, "new_message", { content: `b:${at}:${sent}` }).then((r) => {
            ackLatency.push(Date.now() - at);
            if (r.status === "ok") acked++;
            else if (r.response.reason === "rate_limited") {
              refused++;
              retryAfter.push(Number(r.response.retry_after_ms));
            } else {
              otherErrors++;
              errorReasons.set(String(r.response.reason), (errorReasons.get(String(r.response.reason)) ?? 0) + 1);
            }
          }),
        );
      }
      await sleep(5);
    }
    const sendWall = (Date.now() - start) / 1000;
    await Promise.race([Promise.all(inflight), sleep(60_000)]);
    await sleep(1000);
    const msgCpu = (await cpuSeconds(pids)) - cpu1;
    const msgGen = selfCpu() - gen1;
    const [{ n: stored } = { n: 0 }] = await env.db.db.select({ n: sql<number>`count(*)::int` }).from(messages).where(eq(messages.chatRoomId, roomId));
    // Every acked message reaches every joined member but its author.
    const deliveries = acked * (senders.length - 1);
    ackLatency.sort((a, b) => a - b);
    deliveryLatency.sort((a, b) => a - b);
    // The one promise a benchmark can break: what was acked is stored, exactly (npm run bench fails otherwise).
    if (stored !== acked) failed.push(`persisted ${stored} messages but acked ${acked}`);
    rows.push([
      `messages, ${MEMBERS} members × ${RATE}/s for ${SECONDS} s${BATCH ? " (batch)" : ""}`,
      `sent ${total} in ${sendWall.toFixed(1)} s, acked ${acked} (${f1(acked / sendWall)}/s), refused ${refused}${retryAfter.length ? ` (retry_after_ms p50 ${pct(retryAfter.sort((a, b) => a - b), 0.5)})` : ""}, other errors ${otherErrors}${otherErrors ? ` ${JSON.stringify(Object.fromEntries(errorReasons))}` : ""}; reply p50 ${f1(pct(ackLatency, 0.5))} ms p99 ${f1(pct(ackLatency, 0.99))} ms; delivery p50 ${f1(pct(deliveryLatency, 0.5))} ms p99 ${f1(pct(deliveryLatency, 0.99))} ms; persisted ${stored} (= acked: ${stored === acked}); ws-node CPU ${msgCpu.toFixed(2)} s = ${f1((msgCpu * 1e6) / Math.max(1, deliveries))} µs per delivery; generator CPU ${msgGen.toFixed(2)} s`,
    ]);
    for (const m of members) m.ws.close();
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    await sleep(1500);
    await env.close();
  }
  console.log(`\n| chat scenario | result |\n|---|---|`);
  for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
  console.log(`\n(${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores, load generator on the same machine)`);
  if (failed.length) {
    console.error(`\nFAILED: ${failed.join("; ")}`);
    process.exit(1);
  }
  process.exit(0);
}

await main();
