/**
 * `npm run soak`: a bounded soak of a drop plus chat with connection churn, on 127.0.0.1, not in
 * CI. Two ws-nodes, the worker and the API run as real processes on a private database and Redis
 * prefix; stock Phoenix clients come and go (connect, join the seat map and the chat room, lock,
 * unlock, chat; one life in three ends by ordering the hold, paying it with a signed webhook or
 * letting the payment window run out; then leave: most cleanly, one in five by cutting the TCP
 * connection), for SOAK_SECONDS (default 600). It prints each process's RSS (after a forced GC),
 * the Redis key count under the prefix (by kind) and the BullMQ queue sizes at the start, and again
 * once the clients have left and their holds, payment windows and rate-limit windows have run out:
 * they should be back at baseline. RSS is also sampled every minute of the run (without a GC),
 * and at the end the seats sold in PostgreSQL are compared with the map in Redis (sold twice 0,
 * lost 0).
 *
 * SOAK_SECONDS (600), SOAK_CLIENTS (40 at a time), SOAK_SETTLE_SECONDS (70: the 60 s rate-limit
 * window plus a margin).
 */
import type { ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { Queue } from "bullmq";
import { HOLDS_QUEUE, ORDERS_QUEUE, ROOMS_QUEUE } from "@seatdrop/jobs";
import { createTestEnv, type TestEnv } from "../test/support/test-env.ts";
import { PhxClient, createEvent, createUser, push, seatIdsGrid } from "../test/support/cluster.ts";
import { createChatEvent, issueTicket, syncEventRoom } from "../apps/ws-node/test/chat-support.ts";
import { freePort, rssKb, serverEnv, sleep, startServer } from "./lib/procs.ts";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 40);
const SETTLE_SECONDS = Number(process.env.SOAK_SETTLE_SECONDS ?? 70);
const HOLD_TTL_MS = 5000;
/** Short, so unpaid orders expire (through the worker's BullMQ job) many times during the soak. */
const PAYMENT_WINDOW_MS = 8000;
const WEBHOOK_SECRET = "soak-webhook-secret-0123456789";

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
  ordersCreated: number;
  ordersRefused: number;
  ordersPaid: number;
  ordersLeftToExpire: number;
  /** Answers the cluster should never give: a 5xx, a webhook refused, an order paid twice. */
  errors: number;
}
const counts: Counts = {
  connects: 0, cuts: 0, locksOk: 0, locksRefused: 0, unlocks: 0, messagesSent: 0, messagesRefused: 0, pushesReceived: 0, timeouts: 0, joinFailures: 0,
  ordersCreated: 0, ordersRefused: 0, ordersPaid: 0, ordersLeftToExpire: 0, errors: 0,
};

/** Orders the hold a client ends its life with; pays two in three with a signed webhook, lets the rest expire. */
async function orderAndMaybePay(api: string, token: string, eventId: string): Promise<void> {
  const res = await fetch(`${api}/api/orders`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ event_id: eventId }) });
  if (res.status >= 500) counts.errors++;
  if (res.status !== 201 && res.status !== 200) {
    counts.ordersRefused++; // the hold expired meanwhile, or the seats were already ordered
    return;
  }
  const order = (await res.json()) as { id: string; total: number; currency: string };
  counts.ordersCreated++;
  if (Math.random() < 1 / 3) {
    counts.ordersLeftToExpire++;
    return;
  }
  const body = JSON.stringify({ payment_id: `soak_${order.id}`, order_id: order.id, amount: order.total, currency: order.currency, status: "succeeded" });
  const t = Math.floor(Date.now() / 1000);
  const sig = createHmac("sha256", WEBHOOK_SECRET).update(`${t}.${body}`).digest("hex");
  const paid = await fetch(`${api}/api/payments/webhook`, { method: "POST", headers: { "content-type": "application/json", "payment-signature": `t=${t},v1=${sig}` }, body });
  const r = (await paid.json()) as { order_status?: string };
  if (paid.ok && r.order_status === "paid") counts.ordersPaid++;
  else counts.errors++;
}

async function redisKeys(env: TestEnv): Promise<{ total: number; byKind: Record<string, number>; names: string[] }> {
  const byKind: Record<string, number> = {};
  const names: string[] = [];
  let total = 0;
  let cursor = "0";
  do {
    const [next, found] = await env.redis.scan(cursor, "MATCH", `${env.config.REDIS_PREFIX}:*`, "COUNT", 1000);
    cursor = next;
    for (const k of found) {
      total++;
      names.push(k);
      const kind = k.split(":")[1] ?? "?";
      byKind[kind] = (byKind[kind] ?? 0) + 1;
    }
  } while (cursor !== "0");
  return { total, byKind, names };
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
  const redis = await redisKeys(env);
  return { rssMiB: rss, redis, queues };
}

function brief(m: Awaited<ReturnType<typeof measure>>): string {
  return JSON.stringify({ rssMiB: m.rssMiB, redis: { total: m.redis.total, byKind: m.redis.byKind }, queues: m.queues });
}

/** One client slot: connect, live a few seconds, leave; again until the deadline. */
async function agent(i: number, deadline: number, ports: number[], api: string, users: { id: string; token: string }[], seatEvent: string, chatEvent: string, seats: string[]) {
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
      if (mine && Math.random() < 1 / 3) await orderAndMaybePay(api, user.token, seatEvent);
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
    const apiPort = await freePort();
    const childEnv = serverEnv(env, { PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET, ADMIN_EMAIL: "admin@soak.local", ADMIN_PASSWORD: "soak-admin-password", HOST: "127.0.0.1" });
    const gcFlags = ["--expose-gc", "--import", "./load-tests/lib/gc-on-signal.mjs"];
    for (const [i, port] of ports.entries()) procs.push({ name: `ws-node-${i}`, proc: await startServer("apps/ws-node/src/main.ts", { ...childEnv, WS_PORT: String(port), NODE_ID: `soak-${i}` }, port, gcFlags) });
    procs.push({ name: "worker", proc: await startServer("apps/worker/src/main.ts", { ...childEnv, WORKER_PORT: String(workerPort) }, workerPort, gcFlags) });
    procs.push({ name: "api", proc: await startServer("apps/api/src/main.ts", { ...childEnv, API_PORT: String(apiPort) }, apiPort, gcFlags) });
    const api = `http://127.0.0.1:${apiPort}`;

    // Big enough that ten minutes of sales (paid seats stay sold) do not sell it out.
    const seats = seatIdsGrid(20, 100);
    const seatEvent = await createEvent(env, seats, { holdTtlMs: HOLD_TTL_MS, holdGraceMs: 1000, paymentWindowMs: PAYMENT_WINDOW_MS });
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
    console.log(`soak: ${CLIENTS} clients at a time for ${SECONDS} s on 2 ws-nodes, the worker and the API; baseline`, brief(before));

    const started = Date.now();
    const deadline = started + SECONDS * 1000;
    const progress = setInterval(() => console.log(`soak: ${Math.round((Date.now() - started) / 1000)} s`, JSON.stringify(counts)), 30_000);
    // RSS every minute of the run, without a forced GC: growth would show as a rising line.
    const rssSamples: Record<string, number[]> = Object.fromEntries(procs.map((p) => [p.name, []]));
    const sampler = setInterval(() => {
      for (const p of procs) rssSamples[p.name]!.push(Math.round(rssKb(p.proc.pid!) / 1024));
    }, 60_000);
    await Promise.all(users.map((_, i) => agent(i, deadline, ports, api, users, seatEvent, chatEvent, seats)));
    clearInterval(progress);
    clearInterval(sampler);
    const during = await measure(env, procs);
    console.log("soak: clients gone", JSON.stringify(counts));
    console.log("soak: right after the clients left", brief(during));

    await sleep(SETTLE_SECONDS * 1000);
    const after = await measure(env, procs);
    const k = env.keys.event(seatEvent);
    console.log(`soak: after ${SETTLE_SECONDS} s of quiet`, brief(after));
    // What is left beyond the baseline, with ids folded, so every extra key can be explained.
    const baseline = new Set(before.redis.names);
    const extra: Record<string, number> = {};
    for (const name of after.redis.names) {
      if (baseline.has(name)) continue;
      const shape = name.slice(env.config.REDIS_PREFIX.length + 1).replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<id>").replace(/\b[A-Z]_\d+\b/g, "<seat>");
      extra[shape] = (extra[shape] ?? 0) + 1;
    }
    console.log("soak: Redis keys beyond the baseline:", JSON.stringify(extra));
    // The end state: no lock or reservation left, and the seats Redis shows paid are exactly those
    // PostgreSQL sold, each once.
    const state = await env.redis.hgetall(k.state);
    const left = { locked: 0, reserved: 0, paid: new Set<string>() };
    for (const [seat, v] of Object.entries(state)) {
      if (v.startsWith("L|")) left.locked++;
      else if (v.startsWith("R|")) left.reserved++;
      else if (v.startsWith("P|")) left.paid.add(seat);
    }
    const sold = await env.db.sql<{ seat_id: string; n: number }[]>`
      select i.seat_id, count(*)::int as n from order_items i join orders o on o.id = i.order_id
      where o.event_id = ${seatEvent} and o.status = 'paid' group by i.seat_id`;
    const byStatus = await env.db.sql<{ status: string; n: number }[]>`select status, count(*)::int as n from orders where event_id = ${seatEvent} group by status`;
    const soldTwice = sold.filter((r) => r.n > 1).length;
    const soldSeats = new Set(sold.map((r) => r.seat_id));
    const lost = [...soldSeats].filter((s) => !left.paid.has(s)).length + [...left.paid].filter((s) => !soldSeats.has(s)).length;
    console.log(`soak: orders in PostgreSQL ${JSON.stringify(Object.fromEntries(byStatus.map((r) => [r.status, r.n])))}; seats sold ${soldSeats.size}, sold twice ${soldTwice}; paid in Redis ${left.paid.size}, differing from PostgreSQL ${lost}; still locked ${left.locked}, still reserved ${left.reserved} (expected 0, 0)`);
    console.log("soak: RSS every minute of the run (MiB, no forced GC):", JSON.stringify(rssSamples));
    console.log("\n| | baseline | clients gone | after settling |\n| --- | --- | --- | --- |");
    for (const p of procs) console.log(`| RSS ${p.name} (MiB) | ${before.rssMiB[p.name]} | ${during.rssMiB[p.name]} | ${after.rssMiB[p.name]} |`);
    console.log(`| Redis keys | ${before.redis.total} | ${during.redis.total} | ${after.redis.total} |`);
    for (const name of [HOLDS_QUEUE, ORDERS_QUEUE, ROOMS_QUEUE]) console.log(`| queue ${name} | ${JSON.stringify(before.queues[name])} | ${JSON.stringify(during.queues[name])} | ${JSON.stringify(after.queues[name])} |`);
    console.log(`\nclients: ${counts.connects} connects (${counts.cuts} cut), locks ${counts.locksOk} granted / ${counts.locksRefused} refused, ${counts.unlocks} unlocks, chat ${counts.messagesSent} sent / ${counts.messagesRefused} refused, ${counts.pushesReceived} pushes received, ${counts.timeouts} timeouts, ${counts.joinFailures} failed cycles`);
    console.log(`orders: ${counts.ordersCreated} created (${counts.ordersRefused} refused), ${counts.ordersPaid} paid by webhook, ${counts.ordersLeftToExpire} left to expire; ${counts.errors} errors (5xx, webhook not paying)`);
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
