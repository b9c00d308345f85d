import { gt, inArray, sql } from "drizzle-orm";
import { Queue } from "bullmq";
import type { Config } from "@seatdrop/config";
import { events, users } from "@seatdrop/db";
import type { Db } from "@seatdrop/db";
import { HOLDS_QUEUE, ORDERS_QUEUE, ROOMS_QUEUE } from "@seatdrop/jobs";
import { isUuid } from "@seatdrop/protocol";
import type { WaitingRooms } from "@seatdrop/queue";
import type { Keys, Redis } from "@seatdrop/redis";
import { firingAlerts } from "./ops-alerts.ts";

const PROBE_TIMEOUT_MS = 1500;
/** Live holds listed per event (earliest deadline first) for the page's release buttons; `holds` counts them all. */
const HOLDS_LISTED = 20;

/**
 * An event's waiting room as the ops page shows it (null for an event without one). When Redis
 * could not be read, `state` is `unknown` and the figures are null.
 */
export interface RoomOps {
  state: string;
  waiting: number | null;
  admitted: number | null;
  shopping: number | null;
  admitted_per_minute: number | null;
  free_seats: number | null;
  paused: boolean | null;
  max_active: number | null;
}

const ROOM_UNKNOWN: RoomOps = { state: "unknown", waiting: null, admitted: null, shopping: null, admitted_per_minute: null, free_seats: null, paused: null, max_active: null };

/** One app of the cluster as the ops page shows it. */
export interface AppStatus {
  name: string;
  url: string;
  healthy: boolean;
  ready: boolean | null;
  connections: number | null;
  subscribed_events: number | null;
  /** Lock results this app's seat service counted since it started: `ok` and each refusal's reason. */
  lock_results: Record<string, number>;
  /** The worker's hold expiry lag (deadline to release), mean over its life, ms; null elsewhere. */
  expiry_lag_mean_ms: number | null;
}

/** The targets to probe: OPS_TARGETS, or this host's worker and ws-nodes as `npm start` runs them. */
export function opsTargets(config: Config): { name: string; url: string }[] {
  if (config.OPS_TARGETS)
    return config.OPS_TARGETS.split(",")
      .map((u) => u.trim())
      .filter(Boolean)
      .map((url) => ({ name: new URL(url).host, url }));
  return [
    { name: "worker", url: `http://127.0.0.1:${config.WORKER_PORT}` },
    ...config.WS_PORTS.map((p) => ({ name: `ws-node :${p}`, url: `http://127.0.0.1:${p}` })),
  ];
}

async function probe(url: string, headers: Record<string, string> = {}): Promise<Response | null> {
  try {
    return await fetch(url, { headers, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  } catch {
    return null;
  }
}

/** Sums a Prometheus gauge over its label sets in a text exposition. */
function gauge(text: string, name: string): number | null {
  let sum = 0;
  let seen = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || (line[name.length] !== " " && line[name.length] !== "{")) continue;
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(v)) {
      sum += v;
      seen = true;
    }
  }
  return seen ? sum : null;
}

/** The `result` label's values of `sdc_seat_ops_total{op="lockSeat",…}`, with their counts. */
function lockResults(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^sdc_seat_ops_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = m[1]!;
    if (!labels.includes('op="lockSeat"')) continue;
    const result = /result="([^"]*)"/.exec(labels)?.[1];
    const v = Number(m[2]);
    if (result && Number.isFinite(v) && v > 0) out[result] = (out[result] ?? 0) + v;
  }
  return out;
}

async function appStatus(t: { name: string; url: string }, metricsToken: string): Promise<AppStatus> {
  const [health, ready, metrics] = await Promise.all([
    probe(`${t.url}/healthz`),
    probe(`${t.url}/readyz`),
    probe(`${t.url}/metrics`, { authorization: `Bearer ${metricsToken}` }),
  ]);
  const text = metrics?.ok ? await metrics.text() : "";
  return {
    name: t.name,
    url: t.url,
    healthy: health?.ok ?? false,
    ready: ready ? ready.ok : null,
    connections: gauge(text, "sdc_ws_connections"),
    subscribed_events: gauge(text, "sdc_subscribed_events"),
    lock_results: lockResults(text),
    expiry_lag_mean_ms: mean(text, "sdc_hold_expiry_lag_seconds"),
  };
}

/** A histogram's mean (its `_sum` over its `_count`), in ms; null when absent or empty. */
function mean(text: string, name: string): number | null {
  const sum = gauge(text, `${name}_sum`);
  const count = gauge(text, `${name}_count`);
  return sum !== null && count ? Math.round((sum / count) * 1000 * 10) / 10 : null;
}

/** PostgreSQL as the ops page shows it: reachable, its version, a round trip, open connections. */
async function postgresStatus(db: Db): Promise<{ ok: boolean; version: string | null; latency_ms: number | null; connections: number | null }> {
  const started = performance.now();
  try {
    const rows = (await Promise.race([
      db.execute(sql`select current_setting('server_version') as version, (select count(*) from pg_stat_activity where datname = current_database())::int as connections`),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), PROBE_TIMEOUT_MS).unref()),
    ])) as unknown as { version: string; connections: number }[];
    const row = rows[0]!;
    return { ok: true, version: row.version, latency_ms: Math.round((performance.now() - started) * 10) / 10, connections: row.connections };
  } catch {
    return { ok: false, version: null, latency_ms: null, connections: null };
  }
}

/**
 * Everything the ops page shows, gathered now: every app's health and load, Redis, the job queues,
 * and each current event's live numbers. Each probe has a short timeout, so a dead node shows as
 * down instead of hanging the page.
 */
export async function opsStatus(o: { config: Config; db: Db; redis: Redis; keys: Keys; rooms?: WaitingRooms }) {
  const { config, db, redis, keys, rooms } = o;
  const [apps, postgres] = await Promise.all([Promise.all(opsTargets(config).map((t) => appStatus(t, config.METRICS_TOKEN))), postgresStatus(db)]);
  let redisInfo: Record<string, string> = {};
  try {
    redisInfo = Object.fromEntries(
      (await redis.info())
        .split("\r\n")
        .filter((l) => l.includes(":"))
        .map((l) => l.split(":", 2) as [string, string]),
    );
  } catch {
    redisInfo = {};
  }
  // Redis may be the thing that is down: the page must still answer, showing what it could not read.
  const redisUp = Object.keys(redisInfo).length > 0;
  const queues = !redisUp
    ? []
    : await Promise.all(
        [HOLDS_QUEUE, ORDERS_QUEUE, ROOMS_QUEUE].map(async (name) => {
          const q = new Queue(name, { connection: redis, prefix: keys.bullPrefix });
          try {
            return { name, ...(await q.getJobCounts("waiting", "delayed", "active", "failed")) };
          } catch {
            return { name, waiting: null, delayed: null, active: null, failed: null };
          } finally {
            await q.close().catch(() => {}); // a read-only handle closed after its one read; nothing to lose
          }
        }),
      );
  const current = await db
    .select({ id: events.id, name: events.name, startTime: events.startTime, salesPausedAt: events.salesPausedAt, hasRoom: sql<boolean>`${events.waitingRoom} is not null` })
    .from(events)
    .where(gt(events.endTime, sql`now()`))
    .orderBy(events.startTime)
    .limit(50);
  const eventRows = await Promise.all(
    current.map(async (e) => {
      const k = keys.event(e.id);
      // Holds are counted from the event's deadline index by Redis's clock: live ones only, so a
      // hold past its deadline that the next sweep will release is not shown as held (there are no
      // per-hold jobs to count).
      const live = redisUp
        ? await redis
            .time()
            .then(([sec, usec]) => Number(sec) * 1000 + Math.floor(Number(usec) / 1000))
            .then((now) =>
              Promise.all([
                redis.scard(k.seatmap),
                redis.hlen(k.state),
                redis.zcount(k.holds, `(${now}`, "+inf"),
                redis.get(k.seq),
                // The first live holds by deadline, so the page can offer to release one.
                redis.zrangebyscore(k.holds, `(${now}`, "+inf", "WITHSCORES", "LIMIT", 0, HOLDS_LISTED),
              ]),
            )
            .catch(() => null) // Redis unreachable: the page shows the event's live figures as unknown
        : null;
      const [seats, taken, holds, seq, listed] = live ?? [null, null, null, null, []];
      // The room's figures from its Redis meta (what the ticking node last wrote); unreadable shows as unknown.
      const room: RoomOps | null = !e.hasRoom
        ? null
        : !redisUp || !rooms
          ? ROOM_UNKNOWN
          : await rooms
              .status(e.id)
              .then((r): RoomOps =>
                r
                  ? { state: r.state, waiting: r.waiting, admitted: r.admitted, shopping: r.shopping, admitted_per_minute: r.admitted_per_minute, free_seats: r.free_seats, paused: r.paused, max_active: r.max_active }
                  : ROOM_UNKNOWN,
              )
              .catch(() => ROOM_UNKNOWN);
      const holdList: { user_id: string; email: string | null; deadline: string }[] = [];
      for (let i = 0; i + 1 < listed.length; i += 2) holdList.push({ user_id: listed[i]!, email: null, deadline: new Date(Number(listed[i + 1])).toISOString() });
      // The buyer's email, which an operator on the phone with a buyer can find (a user id they cannot).
      const ids = holdList.map((h) => h.user_id).filter(isUuid);
      if (ids.length > 0) {
        const found = await db.select({ id: users.id, email: users.email }).from(users).where(inArray(users.id, ids));
        const emailOf = new Map(found.map((u) => [u.id, u.email]));
        for (const h of holdList) h.email = emailOf.get(h.user_id) ?? null;
      }
      return {
        id: e.id,
        name: e.name,
        start_time: e.startTime.toISOString(),
        sales_paused: e.salesPausedAt !== null,
        seats,
        taken,
        holds,
        seq: seq === null ? null : Number(seq),
        hold_list: holdList,
        waiting_room: room,
      };
    }),
  );
  return {
    at: new Date().toISOString(),
    // This API process answers, so it is healthy; ready when both stores answer (as its /readyz).
    api: { name: "api (this instance)", healthy: true, ready: postgres.ok && redisUp, pid: process.pid, uptime_s: Math.round(process.uptime()) },
    apps,
    postgres,
    redis: {
      ok: redisUp,
      version: redisInfo.redis_version ?? null,
      used_memory: redisInfo.used_memory_human ?? null,
      connected_clients: Number(redisInfo.connected_clients ?? 0),
      ops_per_sec: Number(redisInfo.instantaneous_ops_per_sec ?? 0),
    },
    queues,
    // What Alertmanager says is firing (POST /api/ops/alerts); unknown while Redis is down.
    alerts: redisUp ? await firingAlerts(redis, keys).catch(() => null) : null,
    // Cluster-wide, not per event: the nodes count lock results by reason only (per-event labels
    // would make one series per event on every node). Since each app started.
    locks: sumResults(apps.map((a) => a.lock_results)),
    expiry_lag_mean_ms: apps.map((a) => a.expiry_lag_mean_ms).find((v) => v !== null) ?? null,
    events: eventRows,
  };
}

function sumResults(all: Record<string, number>[]): { ok: number; refused: Record<string, number> } {
  const refused: Record<string, number> = {};
  let ok = 0;
  for (const r of all)
    for (const [k, v] of Object.entries(r)) {
      if (k === "ok") ok += v;
      else if (k !== "error") refused[k] = (refused[k] ?? 0) + v;
    }
  return { ok, refused };
}
