import { randomBytes } from "node:crypto";
import uWS, { type HttpResponse, type TemplatedApp, type WebSocket, type WebSocketBehavior } from "uWebSockets.js";
import { AttemptLimits, SessionMirror, SessionStore, SyncedLimits, createTokenVerifier } from "@seatdrop/auth";
import type { Config } from "@seatdrop/config";
import { connectDb, type DbHandle } from "@seatdrop/db";
import { HoldJobs } from "@seatdrop/jobs";
import { metrics, metricsAuthorized, metricsContentType, metricsText, startStorePings, type Logger } from "@seatdrop/observability";
import { CloseCode } from "@seatdrop/protocol";
import { connectRedis, createKeys } from "@seatdrop/redis";
import { WaitingRooms } from "@seatdrop/queue";
import { SeatService } from "@seatdrop/seats";
import { ChatNode } from "./chat/chat-node.ts";
import { compileTrustedProxies } from "./client-ip.ts";
import { closeIfSlow, endConn, forgetBuffered, type Conn, type UserData } from "./conn.ts";
import type { NodeContext } from "./context.ts";
import { EventFeeds } from "./fanout/event-feed.ts";
import { SeatChanges } from "./fanout/seat-changes.ts";
import { SeatFanout } from "./fanout/seat-fanout.ts";
import { Subscriber } from "./fanout/subscriber.ts";
import { PhoenixSocket } from "./phoenix/phx-connection.ts";
import { QueueNode } from "./queue/queue-node.ts";
import { LocalRegistry } from "./registry.ts";
import { startNodeHoldSweep } from "./hold-sweep.ts";
import { SeedSocket } from "./seed/seed-connection.ts";
import { handleUpgrade } from "./upgrade.ts";
import { SessionGuard } from "./session-guard.ts";

export interface WsNode {
  nodeId: string;
  port: number;
  /**
   * SIGTERM: /readyz answers 503 and upgrades are refused for WS_DRAIN_NOTICE_MS (so the load
   * balancer stops routing here while the node still answers), then the open sockets close with
   * 1001 in jittered batches, each after its pushes in flight were answered; then the node stops.
   */
  drain(noticeMs?: number): Promise<void>;
  /** The same stop without the notice period (tests, Ctrl-C). */
  close(): Promise<void>;
  /** True from the start of a drain. */
  readonly draining: boolean;
}

/**
 * A draining batch closes only after its sockets were silent this long: a push sent just before the
 * close (still in the kernel's buffer or on the wire) is then read and answered, not dropped.
 */
const DRAIN_QUIET_MS = 50;
/** How long one Redis-dependent teardown step of a drain (chat presence, the job queue) may take before the drain goes on without it. */
const TEARDOWN_STEP_MS = 3000;
/** How often the node looks for sockets whose send buffer passed WS_MAX_BACKPRESSURE. */
const SLOW_CONSUMER_SWEEP_MS = 1000;

/**
 * Starts one stateless ws-node: the Phoenix socket at `/socket/websocket`, seed 000's dialect at
 * `/`, and `/healthz`, `/readyz`, `/metrics`. Everything it knows lives in Redis and PostgreSQL.
 */
export async function startWsNode(o: { config: Config; logger: Logger; port?: number; nodeId?: string }): Promise<WsNode> {
  const { config } = o;
  const nodeId = o.nodeId ?? config.NODE_ID ?? `ws-${randomBytes(4).toString("hex")}`;
  const logger = o.logger.child({ module: "ws-node", nodeId });
  // Each connection is named after its prefix and node (`CLIENT LIST` tells them apart; a fault test
  // kills exactly its own node's subscriber with `CLIENT KILL`, while other files share the Redis).
  const named = (role: "command" | "subscriber" | "bullmq") =>
    connectRedis(config, role, { connectionName: `sdc-${role}-${config.REDIS_PREFIX}-${nodeId}`.replace(/[^\w.:-]/g, "_") });
  const redis = named("command");
  const sub = named("subscriber");
  const bull = named("bullmq");
  for (const [name, c] of [["command", redis], ["subscriber", sub], ["bullmq", bull]] as const)
    c.on("error", (err: Error) => logger.warn({ err: err.message, connection: name }, "redis connection error"));
  const keys = createKeys(config.REDIS_PREFIX);
  const db: DbHandle = connectDb(config.DATABASE_URL, { max: 2 });
  const jobs = new HoldJobs(bull, keys.bullPrefix);
  const seats = new SeatService({ redis, keys, config, logger, db: db.db, jobs });
  // Signed out, password changed, account deleted: PostgreSQL is the record, Redis the cache.
  const sessions = new SessionStore({ db: db.db, redis, keys, tokenLifetimeS: config.JWT_TTL_SECONDS, logger });
  const verifier = createTokenVerifier(config, { isEnded: (t) => sessions.isEnded(t, { localUser: t.local }) });
  // The same record in the node's memory, so the upgrade refuses a revoked token synchronously.
  const mirror = new SessionMirror({
    db: db.db,
    sessions,
    tokenLifetimeS: config.JWT_TTL_SECONDS,
    onError: (err, what) => logger.warn({ err }, `${what} failed`),
  });

  const app: TemplatedApp = uWS.App();
  const registry = new LocalRegistry();
  const changes = new SeatChanges(app, config.SEAT_TICK_MS);
  const fanout = new SeatFanout(app, registry, nodeId, changes);
  let phx: PhoenixSocket | undefined;
  let seed: SeedSocket | undefined;
  const subscriber = new Subscriber(sub, logger);
  const feeds = new EventFeeds(
    subscriber,
    keys,
    seats,
    (eventId, events, origin) => fanout.deliver(eventId, events, origin),
    (eventId) => {
      phx?.resync(eventId);
      seed?.resync(eventId);
      changes.reset(eventId);
    },
    logger,
  );
  const chat = new ChatNode({ app, registry, nodeId, config, db: db.db, redis, subscriber, keys, logger });
  // A session that ends anywhere (sign-out, password change, deletion, expiry) closes its sockets here.
  const sessionGuard = new SessionGuard({ registry, sessions, mirror, subscriber, keys, logger });
  await sessionGuard.start();
  const limits = new AttemptLimits({ redis, keys, config });
  // Connects are limited from memory against the cluster-wide counts, so the upgrade waits for no Redis reply.
  const connectLimits = new SyncedLimits({
    limits,
    kind: "connect",
    nodeId,
    channel: keys.attemptTotals,
    syncMs: config.LIMIT_SYNC_MS,
    onError: (err) => logger.warn({ err }, "connect limits sync failed"),
  });
  await subscriber.subscribe(keys.attemptTotals, (text) => connectLimits.onMessage(text));
  const rooms = new WaitingRooms({ redis, keys, config, logger, db: db.db, ensureSeats: (id) => seats.ensureEventLoaded(id) });
  const queue = new QueueNode({ rooms, config, nodeId, logger });
  const ctx: NodeContext = { config, nodeId, logger, app, seats, feeds, registry, fanout, changes, chat, limits, rooms, queue };
  phx = new PhoenixSocket(ctx);
  seed = new SeedSocket(ctx);
  let draining = false;
  // Work each socket still has in flight (a join or push being answered), so a drain closes a
  // socket only once its replies are out.
  const inflight = new WeakMap<Conn, Set<Promise<unknown>>>();
  // When each socket last sent a frame: a drain waits for a short quiet spell, so frames already on
  // their way (in the kernel's buffer, or sent one round trip ago) are read and answered first.
  const lastFrameAt = new WeakMap<Conn, number>();
  const track = (conn: Conn, p: Promise<unknown> | undefined): void => {
    lastFrameAt.set(conn, Date.now());
    if (!p) return;
    let set = inflight.get(conn);
    if (!set) inflight.set(conn, (set = new Set()));
    set.add(p);
    const done = () => set.delete(p);
    p.then(done, done);
  };

  const common: Pick<WebSocketBehavior<UserData>, "compression" | "maxPayloadLength" | "maxBackpressure" | "closeOnBackpressureLimit" | "idleTimeout" | "sendPingsAutomatically"> = {
    compression: uWS.DISABLED,
    maxPayloadLength: config.WS_MAX_PAYLOAD,
    // Slow-consumer policy: the slow-consumer sweep below closes a socket buffering more than
    // WS_MAX_BACKPRESSURE with 4408, and the client rejoins with `last_seq`, catching up from the
    // event log (a join reply larger than the bound may drain above it: `sendJoinReply`, conn.ts).
    // uWS's own limit, far above, only backs the sweep up: past it uWS drops the socket between two
    // sweeps (no close code) rather than buffer without bound, so it must stay above the largest
    // join reply: 16 MiB by default, over seven times a 100,000-seat venue's full snapshot.
    maxBackpressure: config.WS_MAX_BACKPRESSURE * 16,
    closeOnBackpressureLimit: 1, // typed as a number in v20.30's typings; any truthy value enables it
    idleTimeout: config.WS_IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
  };
  const opened = (ws: WebSocket<UserData>) => {
    const conn = ws.getUserData().conn;
    conn.ws = ws;
    registry.conns.set(conn.id, conn);
    metrics.wsConnections.inc({ dialect: conn.dialect });
    return conn;
  };
  const closed = (ws: WebSocket<UserData>) => {
    const conn = ws.getUserData().conn;
    conn.closed = true;
    conn.ws = null;
    forgetBuffered(conn);
    registry.conns.delete(conn.id);
    metrics.wsConnections.dec({ dialect: conn.dialect });
    return conn;
  };
  const upgradeBase = {
    nodeId,
    verifier,
    sessions: mirror,
    opened: (conn: Conn) => sessionGuard.recheckOpened(conn),
    logger,
    rate: config.WS_PUSH_RATE,
    burst: config.WS_PUSH_BURST,
    maxBuffered: config.WS_MAX_BACKPRESSURE,
    replyStallMs: config.WS_REPLY_STALL_MS,
    isDraining: () => draining,
    trustProxy: compileTrustedProxies(config.TRUSTED_PROXIES),
    limits: connectLimits,
  };

  app.ws<UserData>("/socket/websocket", {
    ...common,
    upgrade: handleUpgrade({ ...upgradeBase, dialect: "phx" }),
    open: (ws) => void opened(ws),
    message: (ws, message, isBinary) => {
      const conn = ws.getUserData().conn;
      if (isBinary) return endConn(conn, CloseCode.malformedFrame, "binary frames are not supported; use the JSON serializer");
      track(conn, phx!.onMessage(conn, Buffer.from(message).toString("utf8")));
    },
    close: (ws) => phx!.onClose(closed(ws)),
  });

  app.ws<UserData>("/", {
    ...common,
    upgrade: handleUpgrade({
      ...upgradeBase,
      dialect: "seed",
      prepare: (conn, query) => {
        const eventId = query("event") ?? config.DEFAULT_EVENT_ID;
        if (!eventId) return "connect with ?event=<eventId> (no DEFAULT_EVENT_ID is configured)";
        conn.seedEventId = eventId.toLowerCase(); // one spelling per event, as parseTopic does
        return undefined;
      },
    }),
    open: (ws) => {
      const conn = opened(ws);
      conn.seedReady = seed!.open(conn).then(
        (ok) => (conn.seedCommitted = ok),
        (err: unknown) => {
          logger.error({ err }, "seed connection could not start");
          endConn(conn, CloseCode.internalError, "internal_error");
          return false;
        },
      );
    },
    message: (ws, message) => {
      const conn = ws.getUserData().conn;
      track(conn, seed!.onMessage(conn, Buffer.from(message).toString("utf8")));
    },
    close: (ws) => seed!.onClose(closed(ws)),
  });

  const json = (res: HttpResponse, status: string, body: unknown): void => {
    res.cork(() => {
      res.writeStatus(status).writeHeader("content-type", "application/json").end(JSON.stringify(body));
    });
  };
  app.get("/healthz", (res) => json(res, "200 OK", { status: "ok", node: nodeId }));
  app.get("/readyz", (res) => {
    const ok = !draining && redis.status === "ready" && subscriber.status === "ready";
    json(res, ok ? "200 OK" : "503 Service Unavailable", { status: ok ? "ready" : draining ? "draining" : "redis_unavailable", node: nodeId });
  });
  app.get("/metrics", (res, req) => {
    if (!metricsAuthorized(req.getHeader("authorization"), config.METRICS_TOKEN))
      return json(res, "401 Unauthorized", { error: "unauthorized", message: "metrics need Authorization: Bearer <METRICS_TOKEN>" });
    let aborted = false;
    res.onAborted(() => (aborted = true));
    void metricsText("ws-node").then((text) => {
      if (!aborted)
        res.cork(() => {
          res.writeHeader("content-type", metricsContentType).end(text);
        });
    });
  });
  app.any("/*", (res) => json(res, "404 Not Found", { error: "not_found", message: "WebSocket paths: /socket/websocket (Phoenix), / (seed 000)" }));

  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
    app.listen(config.HOST, o.port ?? config.WS_PORT ?? 4000, (s) => (s ? resolve(s) : reject(new Error(`ws-node could not listen on port ${o.port ?? config.WS_PORT}`))));
  });
  const port = uWS.us_socket_local_port(listenSocket);

  // Vouch for every locally connected user, so holds of users who are still here are never abandoned.
  const liveWindowMs = config.WS_LIVE_WINDOW_MS;
  const liveTimer = setInterval(() => {
    for (const [eventId, users] of registry.liveUsers())
      seats.markLive(eventId, nodeId, users, liveWindowMs).catch((err: unknown) => logger.warn({ err, eventId }, "liveness refresh failed"));
  }, liveWindowMs / 3);
  liveTimer.unref();
  const holdSweep = startNodeHoldSweep({ seats, registry, nodeId, everyMs: config.WS_HOLD_SWEEP_MS, logger });

  const slowTimer = setInterval(() => {
    const now = Date.now();
    for (const c of registry.conns.values()) closeIfSlow(c, 0, now);
  }, SLOW_CONSUMER_SWEEP_MS);
  slowTimer.unref();
  const stopPings = startStorePings({ redis, pg: () => db.sql`select 1` });
  await chat.start();
  queue.start();

  logger.info({ port }, "ws-node listening");
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const settleWithin = async (work: Promise<unknown>, ms: number, what: string) => {
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      work.then(() => "done", (err: unknown) => (logger.warn({ err }, `${what} failed`), "failed")),
      new Promise<string>((r) => (timer = setTimeout(() => r("timed out"), ms))),
    ]);
    clearTimeout(timer);
    if (outcome === "timed out") logger.warn({ ms }, `${what} did not finish; going on`);
  };
  /**
   * Closes a batch once none of its sockets has a reply pending and none sent a frame for
   * DRAIN_QUIET_MS (or WS_DRAIN_INFLIGHT_MS passed).
   */
  const closeBatch = async (batch: Conn[]): Promise<void> => {
    const until = Date.now() + config.WS_DRAIN_INFLIGHT_MS;
    for (;;) {
      const pending = batch.flatMap((c) => (c.closed ? [] : [...(inflight.get(c) ?? [])]));
      const quietFor = Date.now() - Math.max(0, ...batch.map((c) => lastFrameAt.get(c) ?? 0));
      // Checked and closed in the same tick: no new push can start between the check and the close.
      if ((pending.length === 0 && quietFor >= DRAIN_QUIET_MS) || Date.now() >= until) break;
      if (pending.length > 0) await Promise.race([Promise.allSettled(pending), sleep(until - Date.now())]);
      else await sleep(Math.min(DRAIN_QUIET_MS - quietFor, until - Date.now()));
    }
    for (const c of batch) endConn(c, CloseCode.goingAway, "node draining; reconnect");
  };
  let stopped: Promise<void> | undefined;
  const stop = async (noticeMs: number): Promise<void> => {
    draining = true;
    metrics.wsDraining.set(1);
    logger.info({ noticeMs, sockets: registry.conns.size }, "draining: /readyz answers 503, new sockets refused");
    if (noticeMs > 0) await sleep(noticeMs);
    const all = [...registry.conns.values()];
    for (let i = 0; i < all.length; i += config.WS_DRAIN_BATCH) {
      await closeBatch(all.slice(i, i + config.WS_DRAIN_BATCH));
      // Jitter, so the clients of successive batches do not reconnect in lockstep.
      if (i + config.WS_DRAIN_BATCH < all.length) await sleep(config.WS_DRAIN_PAUSE_MS * (0.5 + Math.random()));
    }
    // Sockets that raced in before the first batch (an upgrade verified just before the drain).
    await closeBatch([...registry.conns.values()]);
    uWS.us_listen_socket_close(listenSocket);
    clearInterval(liveTimer);
    clearInterval(slowTimer);
    holdSweep.stop();
    queue.stop();
    sessionGuard.stop();
    connectLimits.close();
    limits.close();
    stopPings();
    // Teardown that needs Redis is bounded: with Redis (or a whole Redis Cluster) gone, a drain
    // still ends, and what could not be written (presence, liveness) expires by itself.
    await settleWithin(chat.close(), TEARDOWN_STEP_MS, "chat teardown");
    await settleWithin(jobs.close(), TEARDOWN_STEP_MS, "job queue close"); // shutting down: the queue's connection goes with the process
    redis.disconnect();
    subscriber.disconnect();
    bull.disconnect();
    await db.close();
    logger.info("ws-node stopped");
  };
  const node: WsNode = {
    nodeId,
    port,
    get draining() {
      return draining;
    },
    drain(noticeMs = config.WS_DRAIN_NOTICE_MS) {
      return (stopped ??= stop(noticeMs));
    },
    close() {
      return node.drain(0);
    },
  };
  return node;
}
