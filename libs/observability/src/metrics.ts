import { timingSafeEqual } from "node:crypto";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, register as defaultRegister } from "prom-client";

/**
 * Every Prometheus metric of the project, declared once so names never drift between apps, each
 * in the registry of the apps that feed it: an app's `/metrics` shows only its own (plus the process
 * defaults), never another app's as zeros. Names follow Prometheus conventions (`sdc_` prefix,
 * `_total` counters, `_seconds` histograms); every label has a bounded set of values.
 *
 * To add one: a line in `metrics` with `counter(apps, …)` / `gauge(apps, …)` / `histogram(apps, …)`;
 * give a labelled counter its known label values as `zero`, so each series starts at 0 and its first
 * increment shows in `rate()`. A metric created with plain `new Counter()` lands in prom-client's
 * default registry, which every app also exports.
 */
export type AppName = "api" | "worker" | "ws-node";
const registries: Record<AppName, Registry> = { api: new Registry(), worker: new Registry(), "ws-node": new Registry() };
const ALL: AppName[] = ["api", "worker", "ws-node"];
const WS: AppName[] = ["ws-node"];
const API: AppName[] = ["api"];
const WORKER: AppName[] = ["worker"];

type Zero<L extends string> = Partial<Record<L, readonly string[]>>;

/** Sets every combination of the given label values to 0 (labels not listed stay unset). */
export function zeroCounter<L extends string>(c: Counter<L>, values: Zero<L>): void {
  for (const labels of combinations(values)) c.inc(labels as Partial<Record<L, string>>, 0);
}
function combinations(values: Record<string, readonly string[] | undefined>): Record<string, string>[] {
  let combos: Record<string, string>[] = [{}];
  for (const [label, vals] of Object.entries(values)) combos = combos.flatMap((c0) => (vals ?? []).map((v) => ({ ...c0, [label]: v })));
  return combos;
}

function counter<L extends string>(apps: AppName[], cfg: { name: string; help: string; labelNames?: readonly L[] }, zero?: Zero<L>): Counter<L> {
  const c = new Counter<L>({ ...cfg, registers: apps.map((a) => registries[a]) });
  if (zero) zeroCounter(c, zero);
  else if (!cfg.labelNames?.length) c.inc(0);
  return c;
}
function gauge<L extends string>(apps: AppName[], cfg: { name: string; help: string; labelNames?: readonly L[] }, zero?: Zero<L>): Gauge<L> {
  const g = new Gauge<L>({ ...cfg, registers: apps.map((a) => registries[a]) });
  if (zero) for (const labels of combinations(zero)) g.set(labels as Partial<Record<L, string>>, 0);
  else if (!cfg.labelNames?.length) g.set(0);
  return g;
}
function histogram<L extends string>(apps: AppName[], cfg: { name: string; help: string; labelNames?: readonly L[]; buckets: number[] }): Histogram<L> {
  return new Histogram<L>({ ...cfg, registers: apps.map((a) => registries[a]) });
}

const FAST = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const LAG = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

/** Every reason a ws-node refuses a frame (the `reason` of an error reply, or a close). */
export const FRAME_REFUSALS = [
  "malformed_frame",
  "malformed_payload",
  "rate_limited",
  "not_joined",
  "unmatched_topic",
  "unsupported_event",
  "unauthorized",
  "unknown_action",
  "invalid_seat",
  "not_admitted",
] as const;
/** The paths a hold is released by, and why. */
export const HOLD_RELEASE_PATHS = ["job", "sweep"] as const;
export const HOLD_RELEASE_REASONS = ["expired", "abandoned"] as const;
export const QUEUE_STATES = ["waiting", "delayed", "active", "failed"] as const;
/** The states an order enters (libs/orders): `pending` when created, then one of the others. */
const ORDER_STATES = ["pending", "paid", "expired", "canceled", "refunded"] as const;
/** A payment webhook's outcome: the order's result, a replay, or why the request was refused. */
const WEBHOOK_RESULTS = [
  "paid",
  "payment_failed",
  "flagged_for_refund",
  "duplicate",
  "missing_signature",
  "invalid_signature",
  "timestamp_out_of_range",
  "malformed",
] as const;
/** The channels a join can be refused on, and the documented reasons (unknown ones count as `other`). */
const JOIN_CHANNELS = ["seats", "chat", "user", "queue"] as const;
const JOIN_REFUSALS = [
  "unauthorized",
  "unknown_event",
  "malformed_payload",
  "unmatched_topic",
  "invalid_ticket",
  "ticket_claimed",
  "ticket_void",
  "chat_inactive",
  "rate_limited",
  "internal_error",
  "no_waiting_room",
  "pow_required",
  "pow_invalid",
  "other",
] as const;
type JoinRefusal = (typeof JOIN_REFUSALS)[number];
/** A refusal's reason as a bounded label value. */
export function joinRefusal(reason: unknown): JoinRefusal {
  const r = typeof reason === "string" ? reason.replace(/ /g, "_") : "";
  return (JOIN_REFUSALS as readonly string[]).includes(r) ? (r as JoinRefusal) : "other";
}

/**
 * Where work that must not fail its caller may fail: each such failure is logged and counted under
 * one of these, `sdc_errors_dropped_total{where}`, never swallowed by a silent `.catch(() => {})`,
 * which would hide a failure such as a failed reload of the revocation list.
 */
export const DROPPED_WHERE = ["deny_list_reload", "scheduler_check", "idempotency_release", "limit_count"] as const;
export type DroppedWhere = (typeof DROPPED_WHERE)[number];

export const metrics = {
  errorsDropped: counter(ALL, { name: "sdc_errors_dropped_total", help: "Failures of background or best-effort work, logged and let go (by where); see docs/reliability.md", labelNames: ["where"] }, { where: DROPPED_WHERE }),
  // ws-node: sockets and frames
  wsConnections: gauge(WS, { name: "sdc_ws_connections", help: "Open WebSocket connections", labelNames: ["dialect"] }, { dialect: ["phx", "seed"] }),
  wsFramesIn: counter(WS, { name: "sdc_ws_frames_in_total", help: "Frames received", labelNames: ["dialect"] }, { dialect: ["phx", "seed"] }),
  wsFrameErrors: counter(WS, { name: "sdc_ws_frame_errors_total", help: "Frames refused, by reason", labelNames: ["reason"] }, { reason: FRAME_REFUSALS }),
  wsBackpressureDrops: counter(WS, { name: "sdc_ws_backpressure_closes_total", help: "Sockets closed as slow consumers (4408)" }),
  wsJoinRepliesOverBound: counter(WS, {
    name: "sdc_ws_join_replies_over_bound_total",
    help: "Join replies that left their socket's send buffer above WS_MAX_BACKPRESSURE, let drain above it (big snapshots over slow paths)",
  }),
  wsSendBufferBytes: gauge(WS, {
    name: "sdc_ws_send_buffer_bytes",
    help: "Bytes waiting in the send buffers (uWS backpressure) of this node's open sockets, sampled at each send and each slow-consumer sweep",
  }),
  wsDraining: gauge(WS, { name: "sdc_ws_draining", help: "1 while this ws-node drains (SIGTERM)" }),
  // ws-node: fan-out
  fanoutEvents: counter(WS, { name: "sdc_fanout_events_total", help: "Seat events fanned out by this node" }),
  fanoutLag: histogram(WS, { name: "sdc_fanout_lag_seconds", help: "From a seat event's publish (Redis clock) to its delivery on this node", buckets: FAST.concat([2.5, 5]) }),
  fanoutGaps: counter(WS, { name: "sdc_fanout_gaps_total", help: "Sequence gaps repaired from the event log" }),
  subscribedEvents: gauge(WS, { name: "sdc_subscribed_events", help: "Event channels this node subscribes to" }),
  // ws-node: joins and chat
  joinsRefused: counter(
    WS,
    { name: "sdc_joins_refused_total", help: "Channel joins refused, by channel and reason", labelNames: ["channel", "reason"] },
    { channel: JOIN_CHANNELS, reason: JOIN_REFUSALS },
  ),
  chatMessagesStored: counter(WS, { name: "sdc_chat_messages_stored_total", help: "Chat messages stored (committed in a message group) by this node" }),
  chatDeliveries: counter(WS, {
    name: "sdc_chat_deliveries_total",
    help: "Chat messages delivered to local members: each published message frame times its topic's local subscribers (the author left out)",
  }),
  chatPresenceOnline: gauge(WS, { name: "sdc_chat_presence_online", help: "Chat presence entries (joined connections) held by this node, over all rooms" }),
  // ws-node: waiting rooms (libs/queue)
  roomWaiters: gauge(WS, { name: "sdc_room_waiters", help: "Sockets joined to a waiting room (queue:<event>) on this node" }),
  // What a node's subscriber connections receive from Redis: with one publish per event per batch
  // these grow with batches × subscribed nodes, not with seat changes × nodes (docs/capacity.md).
  pubsubMessages: counter(WS, { name: "sdc_pubsub_messages_received_total", help: "Pub/sub messages received from Redis, by kind (sharded: SSUBSCRIBE'd event, room and user channels; plain: cluster-wide ones)", labelNames: ["kind"] }, { kind: ["sharded", "plain"] }),
  pubsubBytes: counter(WS, { name: "sdc_pubsub_bytes_received_total", help: "Bytes of those messages as Redis sent them (the RESP push frame: kind, channel, payload)", labelNames: ["kind"] }, { kind: ["sharded", "plain"] }),
  roomAdmitted: counter(WS, { name: "sdc_room_admitted_total", help: "Buyers admitted from a waiting room by this node's ticks" }),
  roomPushes: counter(WS, { name: "sdc_room_pushes_total", help: "Waiting-room pushes sent, by event (position, admitted, sold_out, turn_ended)", labelNames: ["event"] }, { event: ["position", "admitted", "sold_out", "turn_ended"] }),
  roomDrawSeconds: histogram(WS, { name: "sdc_room_draw_seconds", help: "A waiting room's draw, from reading the pre-queue to the commit", buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10] }),
  roomFailures: counter(WS, { name: "sdc_room_failures_total", help: "Waiting-room ticks and position reads that failed (Redis or PostgreSQL unavailable), by step", labelNames: ["step"] }, { step: ["tick", "positions", "restore"] }),
  // every app runs seat scripts (SeatService); lock outcomes are `op="lockSeat"` by `result`
  seatOps: counter(ALL, { name: "sdc_seat_ops_total", help: "Seat operations by script and result (ok or the refusal's reason)", labelNames: ["op", "result"] }),
  seatOpSeconds: histogram(ALL, { name: "sdc_seat_op_seconds", help: "Seat script round trip (for a lock or unlock: from the request to its batch's reply)", labelNames: ["op"], buckets: FAST }),
  seatBatchSize: histogram(ALL, { name: "sdc_seat_batch_size", help: "Locks and unlocks per group-committed script call (seatTransitions)", buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256] }),
  holdsExpired: counter(
    ALL,
    { name: "sdc_holds_released_total", help: "Whole holds released, by path (job, sweep) and reason", labelNames: ["path", "reason"] },
    { path: HOLD_RELEASE_PATHS, reason: HOLD_RELEASE_REASONS },
  ),
  // libs/orders (API and worker): a rebuild of the live map that could not even be queued
  seatRebuildRequestsFailed: counter(ALL, { name: "sdc_seat_rebuild_requests_failed_total", help: "Seat-map rebuilds that could not be queued (the reconciliation repairs the map)" }),
  holdExpiryLag: histogram(WORKER, { name: "sdc_hold_expiry_lag_seconds", help: "From a hold's deadline to its release by the worker", buckets: LAG }),
  // worker: queues (read from Redis at scrape time)
  queueJobs: gauge(WORKER, { name: "sdc_queue_jobs", help: "BullMQ jobs by queue and state", labelNames: ["queue", "state"] }),
  queueOldestWaitingSeconds: gauge(WORKER, { name: "sdc_queue_oldest_waiting_seconds", help: "Age of the oldest job waiting to run, by queue", labelNames: ["queue"] }),
  queueJobsFailed: counter(WORKER, { name: "sdc_queue_job_failures_total", help: "Jobs that threw, by queue", labelNames: ["queue"] }),
  // libs/orders (API and worker): each state an order enters, counted after its transaction commits
  orders: counter([...API, ...WORKER], { name: "sdc_orders_total", help: "Orders entering a state (pending = created)", labelNames: ["state"] }, { state: ORDER_STATES }),
  // api
  paymentWebhooks: counter(API, { name: "sdc_payment_webhooks_total", help: "Payment webhooks by outcome (or refusal)", labelNames: ["result"] }, { result: WEBHOOK_RESULTS }),
  httpRequests: counter(API, { name: "sdc_http_requests_total", help: "HTTP requests", labelNames: ["route", "status"] }),
  // every app: its stores' latency, from a ping every few seconds
  redisPingSeconds: histogram(ALL, { name: "sdc_redis_ping_seconds", help: "Redis PING round trip", buckets: FAST }),
  pgPingSeconds: histogram(ALL, { name: "sdc_pg_ping_seconds", help: "PostgreSQL `select 1` round trip", buckets: FAST }),
};

const defaultsFor = new Set<AppName>();
/** The app's exposition: its own metrics, the process defaults, and anything in the default registry. */
export async function metricsText(app: AppName): Promise<string> {
  if (!defaultsFor.has(app)) {
    defaultsFor.add(app);
    collectDefaultMetrics({ register: registries[app] });
  }
  const own = await registries[app].metrics();
  const extra = await defaultRegister.metrics();
  return extra.trim() ? `${own}\n${extra}` : own;
}
export const metricsContentType = defaultRegister.contentType;

/**
 * `/metrics` is for Prometheus only: it needs `Authorization: Bearer <METRICS_TOKEN>`.
 * Compared in constant time.
 */
export function metricsAuthorized(authorization: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
  if (!m) return false;
  const a = Buffer.from(m[1]!.trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Pings Redis and PostgreSQL every `everyMs` into the latency histograms; returns a stop function. */
export function startStorePings(o: { redis?: { ping(): Promise<unknown> }; pg?: () => Promise<unknown> }, everyMs = 5000): () => void {
  const time = async (h: Histogram, f: () => Promise<unknown>) => {
    const end = h.startTimer();
    try {
      await f();
      end();
    } catch {
      // a failed ping is not a latency; readiness reports the outage
    }
  };
  const t = setInterval(() => {
    if (o.redis) void time(metrics.redisPingSeconds, () => o.redis!.ping());
    if (o.pg) void time(metrics.pgPingSeconds, o.pg);
  }, everyMs);
  t.unref();
  return () => clearInterval(t);
}

/**
 * The `.catch` of work whose failure must not fail its caller: the failure is logged at warn (with
 * `where`) and counted in `sdc_errors_dropped_total{where}`, never swallowed.
 */
export function dropError(where: DroppedWhere, log?: { warn(obj: object, msg: string): void }): (err: unknown) => void {
  return (err) => {
    metrics.errorsDropped.inc({ where });
    log?.warn({ err, where }, "background work failed; let go");
  };
}
