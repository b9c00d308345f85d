/**
 * `npm run soak`: a bounded soak of a drop plus chat with connection churn (issue 8), on 127.0.0.1,
 * not in CI. Two ws-nodes and the worker run as real processes on a private database and Redis
 * prefix; stock Phoenix clients come and go (connect, join the seat map and the chat room, lock,
 * unlock, chat, then leave: most cleanly, one in five by cutting the TCP connection), for
 * SOAK_SECONDS (default 600). It prints each process's RSS (after a forced GC), the Redis key count
 * under the prefix (by kind) and the BullMQ queue sizes at the start, and again once the clients
 * have left and their holds and rate-limit windows have run out: they should be back at baseline.
 *
 * SOAK_SECONDS (600), SOAK_CLIENTS (40 at a time), SOAK_SETTLE_SECONDS (70: the 60 s rate-limit
 * window plus a margin).
 */
import type { ChildProcess } from "node:child_process";
import { Queue } from "bullmq";
import { HOLDS_QUEUE, ORDERS_QUEUE, ROOMS_QUEUE } from "@seatdrop/jobs";
import { createTestEnv, type TestEnv } from "../test/support/test-env.ts";
import { PhxClient, createEvent, createUser, push, seatIdsGrid } from "../test/support/cluster.ts";
import { createChatEvent, issueTicket, syncEventRoom } from "../apps/ws-node/test/chat-support.ts";
import { freePort, rssKb, sleep, startServer } from "./lib/procs.ts";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 40);
const SETTLE_SECONDS = Number(process.env.SOAK_SETTLE_SECONDS ?? 70);
const HOLD_TTL_MS = 5000;

interface Counts {
  connects: number;
  cuts: number;
  locksOk: number;
  locksRefused: number;
  unlocks: number;
  messagesSent: number;
  messagesRefused: number;
  pushesReceived: number;
  timeouts: number;
  joinFailures: number;
}
const counts: Counts = { connects: 0, cuts: 0, locksOk: 0, locksRefused: 0, unlocks: 0, messagesSent: 0, messagesRefused: 0, pushesReceived: 0, timeouts: 0, joinFailures: 0 };

async function redisKeys(env: TestEnv): Promise<{ total: number; byKind: Record<string, number> }> {
  const byKind: Record<string, number> = {};
  let total = 0;
  let cursor = "0";
  do {
    const [next, found] = await env.redis.scan(cursor, "MATCH", `${env.config.REDIS_PREFIX}:*`, "COUNT", 1000);
    cursor = next;
    for (const k of found) {
      total++;
      const kind = k.split(":")[1] ?? "?";
      byKind[kind] = (byKind[kind] ?? 0) + 1;
    }
  } while (cursor !== "0");
  return { total, byKind };
}

async function measure(env: TestEnv, procs: { name: string; proc: ChildProcess }[]) {
  for (const p of procs) p.proc.kill("SIGUSR2"); // a full GC in each (load-tests/lib/gc-on-signal.mjs)
  await sleep(1000);
  const rss = Object.fromEntries(procs.map((p) => [p.name, Math.round(rssKb(p.proc.pid!) / 1024)]));
  const queues: Record<string, Record<string, number>> = {};
  for (const name of [HOLDS_QUEUE, ORDERS_QUEUE, ROOMS_QUEUE]) {
    const q = new Queue(name, { connection: env.redis, prefix: env.keys.bullPrefix });
    const c = await q.getJobCounts("waiting", "active", "delayed", "completed", "failed", "prioritized");
    await q.close();
    queues[name] = Object.fromEntries(Object.entries(c).filter(([, n]) => n > 0));
  }
  return { rssMiB: rss, redis: await redisKeys(env), queues };
}

/** One client slot: connect, live a few seconds, leave; again until the deadline. */
async function agent(i: number, deadline: number, ports: number[], users: { id: string; token: string }[], seatEvent: string, chatEvent: string, seats: string[]) {
  let cycle = 0;
  while (Date.now() < deadline) {
    const user = users[i]!;
    const c = new PhxClient(ports[(i + cycle++) % ports.length]!, user.token);
    counts.connects++;
    const logs: { length: number }[] = [];
    try {
      const s = await c.join(`seats:${seatEvent}`, i % 2 ? { changes: true } : {});
      const chat = await c.join(`event:${chatEvent}`);
      logs.push(s.log, chat.log);
      const lifeEnd = Math.min(deadline, Date.now() + 3000 + Math.random() * 7000);
      let mine: string | undefined;
      let lastMessage = 0;
      while (Date.now() < lifeEnd) {
        if (mine && Math.random() < 0.3) {
          const r = await push(s.channel, "unlock", { seat: mine });
          if (r.status === "timeout") counts.timeouts++;
          else counts.unlocks++;
          mine = undefined;
        } else {
          const seat = seats[Math.floor(Math.random() * seats.length)]!;
          const r = await push(s.channel, "lock", { seat });
          if (r.status === "ok") (counts.locksOk++, (mine = seat));
          else if (r.status === "timeout") counts.timeouts++;
          else counts.locksRefused++;
        }
        if (Date.now() - lastMessage > 2000) {
          lastMessage = Date.now();
          const r = await push(chat.channel, "new_message", { content: `soak ${i}.${cycle}` });
          if (r.status === "ok") counts.messagesSent++;
          else if (r.status === "timeout") counts.timeouts++;
          else counts.messagesRefused++;
        }
        await sleep(300 + Math.random() * 400);
      }
    } catch {
      counts.joinFailures++;
    }
    counts.pushesReceived += logs.reduce((n, l) => n + l.length, 0);
    if (Math.random() < 0.2) {
      // Cut without a close frame, as a lost network does; then stop the client reconnecting.
      counts.cuts++;
      (c.socket as unknown as { conn?: { terminate?: () => void } }).conn?.terminate?.();
      c.socket.disconnect();
    } else {
      await c.disconnect();
    }
  }
}

async function main() {
  const env = await createTestEnv({ LOG_LEVEL: "warn" });
  const procs: { name: string; proc: ChildProcess }[] = [];
  try {
    const ports = [await freePort(), await freePort()];
    const workerPort = await freePort();
    const childEnv: Record<string, string> = {
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_URL: env.config.REDIS_URL,
      REDIS_PREFIX: env.config.REDIS_PREFIX,
      JWT_SECRET: env.config.JWT_SECRET!,
      SERVICE_SECRET: env.config.SERVICE_SECRET!,
      LOG_LEVEL: "warn",
      HOST: "127.0.0.1",
    };
    const gcFlags = ["--expose-gc", "--import", "./load-tests/lib/gc-on-signal.mjs"];
    for (const [i, port] of ports.entries()) procs.push({ name: `ws-node-${i}`, proc: await startServer("apps/ws-node/src/main.ts", { ...childEnv, WS_PORT: String(port), NODE_ID: `soak-${i}` }, port, gcFlags) });
    procs.push({ name: "worker", proc: await startServer("apps/worker/src/main.ts", { ...childEnv, WORKER_PORT: String(workerPort) }, workerPort, gcFlags) });

    const seats = seatIdsGrid(10, 20);
    const seatEvent = await createEvent(env, seats, { holdTtlMs: HOLD_TTL_MS, holdGraceMs: 1000 });
    const { eventId: chatEvent } = await createChatEvent(env, { startInMs: 60_000, durationMs: (SECONDS + 600) * 1000 });
    await syncEventRoom(env, chatEvent);
    const users: { id: string; token: string }[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const u = await createUser(env);
      await issueTicket(env, chatEvent, u.id);
      users.push(u);
    }
    await sleep(2000);
    const before = await measure(env, procs);
    console.log(`soak: ${CLIENTS} clients at a time for ${SECONDS} s on 2 ws-nodes + worker; baseline`, JSON.stringify(before));

    const started = Date.now();
    const deadline = started + SECONDS * 1000;
    const progress = setInterval(() => console.log(`soak: ${Math.round((Date.now() - started) / 1000)} s`, JSON.stringify(counts)), 30_000);
    await Promise.all(users.map((_, i) => agent(i, deadline, ports, users, seatEvent, chatEvent, seats)));
    clearInterval(progress);
    const during = await measure(env, procs);
    console.log("soak: clients gone", JSON.stringify(counts));
    console.log("soak: right after the clients left", JSON.stringify(during));

    await sleep(SETTLE_SECONDS * 1000);
    const after = await measure(env, procs);
    const k = env.keys.event(seatEvent);
    const heldSeats = await env.redis.hlen(k.state);
    console.log(`soak: after ${SETTLE_SECONDS} s of quiet`, JSON.stringify(after));
    console.log(`soak: seats still taken in Redis ${heldSeats} (holds TTL ${HOLD_TTL_MS} ms: expected 0)`);
    console.log("\n| | baseline | clients gone | after settling |\n| --- | --- | --- | --- |");
    for (const p of procs) console.log(`| RSS ${p.name} (MiB) | ${before.rssMiB[p.name]} | ${during.rssMiB[p.name]} | ${after.rssMiB[p.name]} |`);
    console.log(`| Redis keys | ${before.redis.total} | ${during.redis.total} | ${after.redis.total} |`);
    for (const name of [HOLDS_QUEUE, ORDERS_QUEUE, ROOMS_QUEUE]) console.log(`| queue ${name} | ${JSON.stringify(before.queues[name])} | ${JSON.stringify(during.queues[name])} | ${JSON.stringify(after.queues[name])} |`);
    console.log(`\nclients: ${counts.connects} connects (${counts.cuts} cut), locks ${counts.locksOk} granted / ${counts.locksRefused} refused, ${counts.unlocks} unlocks, chat ${counts.messagesSent} sent / ${counts.messagesRefused} refused, ${counts.pushesReceived} pushes received, ${counts.timeouts} timeouts, ${counts.joinFailures} failed cycles`);
  } finally {
    for (const p of procs) p.proc.kill("SIGTERM");
    await sleep(1500);
    for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill("SIGKILL");
    await env.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
