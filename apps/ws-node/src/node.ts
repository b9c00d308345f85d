import { randomBytes } from "node:crypto";
import uWS, { type TemplatedApp, type WebSocket, type WebSocketBehavior } from "uWebSockets.js";
import { SessionMirror, SessionStore, createTokenVerifier, type TokenVerifier } from "@seatdrop/auth";
import { AttemptLimits, SyncedLimits } from "@seatdrop/limits";
import type { Config } from "@seatdrop/config";
import { connectDb, type DbHandle } from "@seatdrop/db";
import { HoldJobs } from "@seatdrop/jobs";
import { metrics, startStorePings, type Logger } from "@seatdrop/observability";
import { CloseCode } from "@seatdrop/protocol";
import { connectRedis, createKeys, type Keys, type Redis } from "@seatdrop/redis";
import { WaitingRooms } from "@seatdrop/queue";
import { SeatService } from "@seatdrop/seats";
import { ChatNode } from "./chat/chat-node.ts";
import { compileTrustedProxies } from "./client-ip.ts";
import { endConn, forgetBuffered, type Conn, type UserData } from "./conn.ts";
import type { NodeContext } from "./context.ts";
import { SocketDrain, teardownStep } from "./drain.ts";
import { EventFeeds } from "./fanout/event-feed.ts";
import { SeatChanges } from "./fanout/seat-changes.ts";
import { SeatFanout } from "./fanout/seat-fanout.ts";
import { Subscriber } from "./fanout/subscriber.ts";
import { ChatChannel } from "./channels/chat.ts";
import { phoenixCodec, seedCodec } from "./channels/codec.ts";
import { QueueChannel } from "./channels/queue.ts";
import { ChannelRuntime } from "./channels/runtime.ts";
import { SeatChannel } from "./channels/seats.ts";
import { UserChannel } from "./channels/user.ts";
import { PhoenixSocket } from "./dialects/phoenix-socket.ts";
import { mountProbes } from "./probes.ts";
import { QueueNode } from "./queue/queue-node.ts";
import { LocalRegistry } from "./registry.ts";
import { SeedSocket } from "./dialects/legacy-socket.ts";
import { startSlowConsumerSweep } from "./slow-consumers.ts";
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

/** The node's Redis connections and PostgreSQL pool, and the services built right on them. */
interface Stores {
  redis: Redis;
  sub: Redis;
  bull: Redis;
  keys: Keys;
  db: DbHandle;
  jobs: HoldJobs;
  seats: SeatService;
  sessions: SessionStore;
  verifier: TokenVerifier;
  mirror: SessionMirror;
}

/** Everything one ws-node is made of: what its handlers share (`ctx`), and what starts and stops beside it. */
interface Parts extends Stores {
  ctx: NodeContext;
  subscriber: Subscriber;
  sessionGuard: SessionGuard;
  connectLimits: SyncedLimits;
  runtime: ChannelRuntime;
  phx: PhoenixSocket;
  seed: SeedSocket;
}

/** What the node starts once it is built (its port and its background timers), stopped by its drain. */
interface Running {
  listenSocket: uWS.us_listen_socket;
  liveness: { stop(): void };
  slowConsumers: { stop(): void };
  holdSweep: { stop(): void };
  stopPings: () => void;
}

/**
 * Starts one stateless ws-node: the Phoenix socket at `/socket/websocket`, the legacy seat dialect at
 * `/`, and `/healthz`, `/readyz`, `/metrics`. Everything it knows lives in Redis and PostgreSQL.
 */
export async function startWsNode(o: { config: Config; logger: Logger; port?: number; nodeId?: string }): Promise<WsNode> {
  const { config } = o;
  const nodeId = o.nodeId ?? config.NODE_ID ?? `ws-${randomBytes(4).toString("hex")}`;
  const logger = o.logger.child({ module: "ws-node", nodeId });
  const n = await assemble(connectStores(config, nodeId, logger), config, nodeId, logger);
  const { app, registry, seats } = n.ctx;
  const drain = new SocketDrain({ config, registry, logger });
  mountSockets(n, drain);
  mountProbes(app, { nodeId, config, redis: n.redis, subscriber: n.subscriber, isDraining: () => drain.draining });
  const listenSocket = await listen(app, config, o.port);
  const port = uWS.us_socket_local_port(listenSocket);
  const liveness = seats.holds.startVouching({ liveUsers: () => registry.liveUsers(), nodeId, windowMs: config.WS_LIVE_WINDOW_MS });
  const holdSweep = seats.holds.startNodeSweep({ watchedEvents: () => registry.watchedEvents(), nodeId, everyMs: config.WS_HOLD_SWEEP_MS });
  const slowConsumers = startSlowConsumerSweep(registry);
  const stopPings = startStorePings({ redis: n.redis, pg: () => n.db.sql`select 1` });
  await n.ctx.chat.start();
  n.ctx.queue.start();
  logger.info({ port }, "ws-node listening");
  let stopped: Promise<void> | undefined;
  const stop = async (noticeMs: number): Promise<void> => {
    await drain.closeSockets(noticeMs);
    await stopParts(n, { listenSocket, liveness, slowConsumers, holdSweep, stopPings });
  };
  const node: WsNode = {
    nodeId,
    port,
    get draining() {
      return drain.draining;
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

function connectStores(config: Config, nodeId: string, logger: Logger): Stores {
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
  return { redis, sub, bull, keys, db, jobs, seats, sessions, verifier, mirror };
}

/** Builds the fan-out, chat, sessions, limits, waiting rooms and the two dialects on the stores. */
async function assemble(s: Stores, config: Config, nodeId: string, logger: Logger): Promise<Parts> {
  const { redis, keys, seats, sessions, mirror } = s;
  const db = s.db.db;
  const app: TemplatedApp = uWS.App();
  const registry = new LocalRegistry();
  const changes = new SeatChanges(app, config.SEAT_TICK_MS);
  const fanout = new SeatFanout(app, registry, nodeId, changes);
  // The channels need the context the feeds are part of, so the feeds reach them late-bound (a
  // resync can only come once the node is up).
  let seatChannel: SeatChannel | undefined;
  let seed: SeedSocket | undefined;
  const subscriber = new Subscriber(s.sub, logger);
  const feeds = new EventFeeds(
    subscriber,
    keys,
    seats,
    (eventId, events, origin) => fanout.deliver(eventId, events, origin),
    (eventId) => {
      for (const conn of seatChannel?.resync(eventId) ?? []) if (conn.dialect === "seed") seed?.restart(conn);
      changes.reset(eventId);
    },
    logger,
  );
  const chat = new ChatNode({ app, registry, nodeId, config, db, redis, subscriber, keys, logger });
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
  const rooms = new WaitingRooms({ redis, keys, config, logger, db, ensureSeats: (id) => seats.events.ensureEventLoaded(id) });
  const queue = new QueueNode({ rooms, config, nodeId, logger });
  const ctx: NodeContext = { config, nodeId, logger, app, seats, feeds, registry, fanout, changes, chat, limits, rooms, queue };
  const runtime = new ChannelRuntime(ctx, { phx: phoenixCodec, seed: seedCodec });
  seatChannel = new SeatChannel(ctx, runtime);
  runtime.register({ seats: seatChannel, event: new ChatChannel(ctx, runtime), user: new UserChannel(ctx), queue: new QueueChannel(ctx) });
  seed = new SeedSocket(ctx, runtime);
  return { ...s, ctx, subscriber, sessionGuard, connectLimits, runtime, phx: new PhoenixSocket(runtime), seed };
}

/** What both socket paths share. */
function socketOptions(config: Config): Pick<WebSocketBehavior<UserData>, "compression" | "maxPayloadLength" | "maxBackpressure" | "closeOnBackpressureLimit" | "idleTimeout" | "sendPingsAutomatically"> {
  return {
    compression: uWS.DISABLED,
    maxPayloadLength: config.WS_MAX_PAYLOAD,
    // Slow-consumer policy: the slow-consumer sweep (slow-consumers.ts) closes a socket buffering
    // more than WS_MAX_BACKPRESSURE with 4408, and the client rejoins with `last_seq`, catching up
    // from the event log (a join reply larger than the bound may drain above it: `sendJoinReply`,
    // conn.ts).
    // uWS's own limit, far above, only backs the sweep up: past it uWS drops the socket between two
    // sweeps (no close code) rather than buffer without bound, so it must stay above the largest
    // join reply: 16 MiB by default, over seven times a 100,000-seat venue's full snapshot.
    maxBackpressure: config.WS_MAX_BACKPRESSURE * 16,
    closeOnBackpressureLimit: 1, // typed as a number in v20.30's typings; any truthy value enables it
    idleTimeout: config.WS_IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
  };
}

function opened(ws: WebSocket<UserData>, registry: LocalRegistry): Conn {
  const conn = ws.getUserData().conn;
  conn.ws = ws;
  registry.conns.set(conn.id, conn);
  metrics.wsConnections.inc({ dialect: conn.dialect });
  return conn;
}

function closed(ws: WebSocket<UserData>, registry: LocalRegistry): Conn {
  const conn = ws.getUserData().conn;
  conn.closed = true;
  conn.ws = null;
  forgetBuffered(conn);
  registry.conns.delete(conn.id);
  metrics.wsConnections.dec({ dialect: conn.dialect });
  return conn;
}

/** The Phoenix socket at `/socket/websocket` and the legacy seat dialect at `/`; every frame is tracked for the drain. */
function mountSockets(n: Parts, drain: SocketDrain): void {
  const { config, nodeId, logger, app, registry } = n.ctx;
  const { phx, seed } = n;
  const common = socketOptions(config);
  const upgradeBase = {
    nodeId,
    verifier: n.verifier,
    sessions: n.mirror,
    opened: (conn: Conn) => n.sessionGuard.recheckOpened(conn),
    logger,
    rate: config.WS_PUSH_RATE,
    burst: config.WS_PUSH_BURST,
    maxBuffered: config.WS_MAX_BACKPRESSURE,
    replyStallMs: config.WS_REPLY_STALL_MS,
    isDraining: () => drain.draining,
    trustProxy: compileTrustedProxies(config.TRUSTED_PROXIES),
    limits: n.connectLimits,
  };

  app.ws<UserData>("/socket/websocket", {
    ...common,
    upgrade: handleUpgrade({ ...upgradeBase, dialect: "phx" }),
    open: (ws) => void opened(ws, registry),
    message: (ws, message, isBinary) => {
      const conn = ws.getUserData().conn;
      if (isBinary) return endConn(conn, CloseCode.malformedFrame, "binary frames are not supported; use the JSON serializer");
      drain.track(conn, phx.onMessage(conn, Buffer.from(message).toString("utf8")));
    },
    close: (ws) => n.runtime.closed(closed(ws, registry)),
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
    open: (ws) => seed.opened(opened(ws, registry)),
    message: (ws, message) => {
      const conn = ws.getUserData().conn;
      drain.track(conn, seed.onMessage(conn, Buffer.from(message).toString("utf8")));
    },
    close: (ws) => n.runtime.closed(closed(ws, registry)),
  });
}

function listen(app: TemplatedApp, config: Config, port: number | undefined): Promise<uWS.us_listen_socket> {
  return new Promise((resolve, reject) => {
    app.listen(config.HOST, port ?? config.WS_PORT ?? 4000, (s) => (s ? resolve(s) : reject(new Error(`ws-node could not listen on port ${port ?? config.WS_PORT}`))));
  });
}

/** The rest of a drain once the sockets are closed: the port, the background work, then the stores. */
async function stopParts(n: Parts, r: Running): Promise<void> {
  const { logger } = n.ctx;
  uWS.us_listen_socket_close(r.listenSocket);
  r.liveness.stop();
  r.slowConsumers.stop();
  r.holdSweep.stop();
  n.ctx.queue.stop();
  n.sessionGuard.stop();
  n.connectLimits.close();
  n.ctx.limits.close();
  r.stopPings();
  // Teardown that needs Redis is bounded: with Redis (or a whole Redis Cluster) gone, a drain
  // still ends, and what could not be written (presence, liveness) expires by itself.
  await teardownStep(n.ctx.chat.close(), "chat teardown", logger);
  await teardownStep(n.jobs.close(), "job queue close", logger); // shutting down: the queue's connection goes with the process
  n.redis.disconnect();
  n.subscriber.disconnect();
  n.bull.disconnect();
  await n.db.close();
  logger.info("ws-node stopped");
}
