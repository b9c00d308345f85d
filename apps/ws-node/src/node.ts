import { randomBytes } from "node:crypto";
import uWS, { type HttpResponse, type TemplatedApp, type WebSocket, type WebSocketBehavior } from "uWebSockets.js";
import { AttemptLimits, SessionStore, createTokenVerifier } from "@seatdrop/auth";
import type { Config } from "@seatdrop/config";
import { connectDb, type DbHandle } from "@seatdrop/db";
import { HoldJobs } from "@seatdrop/jobs";
import { metrics, metricsContentType, metricsText, type Logger } from "@seatdrop/observability";
import { CloseCode } from "@seatdrop/protocol";
import { connectRedis, createKeys } from "@seatdrop/redis";
import { SeatService } from "@seatdrop/seats";
import { ChatNode } from "./chat/chat-node.ts";
import { closeIfSlow, type Conn, type UserData } from "./conn.ts";
import type { NodeContext } from "./context.ts";
import { EventFeeds } from "./fanout/event-feed.ts";
import { SeatFanout } from "./fanout/seat-fanout.ts";
import { PhoenixSocket } from "./phoenix/phx-connection.ts";
import { LocalRegistry } from "./registry.ts";
import { LIVE_WINDOW_MS } from "./seat-watch.ts";
import { SeedSocket } from "./seed/seed-connection.ts";
import { handleUpgrade } from "./upgrade.ts";
import { SessionGuard } from "./session-guard.ts";

export interface WsNode {
  nodeId: string;
  port: number;
  /** Graceful stop: refuse new sockets, close open ones in batches (1001), then disconnect. */
  close(): Promise<void>;
  /**
   * Test hook for a crash: the chat presence heartbeat stops and no presence leaves are written
   * (as if the process died), then the node stops. Other nodes must notice on their own.
   */
  simulateCrash(): Promise<void>;
}

/** Sockets closed per batch while draining, and the pause between batches, so clients do not all come back at once. */
const DRAIN_BATCH = 500;
const DRAIN_PAUSE_MS = 50;
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
  const redis = connectRedis(config.REDIS_URL);
  // Named per prefix and node, so an operator (or a fault test) can tell this node's subscriber apart.
  const sub = connectRedis(config.REDIS_URL, "subscriber", { connectionName: `sdc-subscriber-${config.REDIS_PREFIX}-${nodeId}` });
  const bull = connectRedis(config.REDIS_URL, "bullmq");
  for (const [name, c] of [["command", redis], ["subscriber", sub], ["bullmq", bull]] as const)
    c.on("error", (err: Error) => logger.warn({ err: err.message, connection: name }, "redis connection error"));
  const keys = createKeys(config.REDIS_PREFIX);
  const db: DbHandle = connectDb(config.DATABASE_URL, { max: 2 });
  const jobs = new HoldJobs(bull, keys.bullPrefix);
  const seats = new SeatService({ redis, keys, config, logger, db: db.db, jobs });
  // Signed out, password changed, account deleted: PostgreSQL is the record, Redis the cache (issue 8).
  const sessions = new SessionStore({ db: db.db, redis, keys });
  const verifier = createTokenVerifier(config, { isEnded: (t) => sessions.isEnded(t, { localUser: t.local }) });

  const app: TemplatedApp = uWS.App();
  const registry = new LocalRegistry();
  const fanout = new SeatFanout(app, registry, nodeId);
  let phx: PhoenixSocket | undefined;
  let seed: SeedSocket | undefined;
  const feeds = new EventFeeds(
    sub,
    keys,
    seats,
    (eventId, events, origin) => fanout.deliver(eventId, events, origin),
    (eventId) => {
      phx?.resync(eventId);
      seed?.resync(eventId);
    },
    logger,
  );
  const chat = new ChatNode({ app, registry, nodeId, config, db: db.db, redis, sub, keys, logger });
  // A session that ends anywhere (sign-out, password change, deletion, expiry) closes its sockets here.
  const sessionGuard = new SessionGuard({ registry, sessions, sub, keys, logger });
  await sessionGuard.start();
  const limits = new AttemptLimits({ redis, keys, config });
  const ctx: NodeContext = { config, nodeId, logger, app, seats, feeds, registry, fanout, chat, limits };
  phx = new PhoenixSocket(ctx);
  seed = new SeedSocket(ctx);
  let draining = false;

  const common: Pick<WebSocketBehavior<UserData>, "compression" | "maxPayloadLength" | "maxBackpressure" | "closeOnBackpressureLimit" | "idleTimeout" | "sendPingsAutomatically"> = {
    compression: uWS.DISABLED,
    maxPayloadLength: config.WS_MAX_PAYLOAD,
    // Slow-consumer policy: the slow-consumer sweep below closes a socket buffering more than
    // WS_MAX_BACKPRESSURE with 4408, and the client rejoins with `last_seq`, catching up from the
    // event log. uWS's own limit, far above, only backs the sweep up: past it uWS drops the socket
    // between two sweeps (no close code) rather than buffer without bound.
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
    registry.conns.delete(conn.id);
    metrics.wsConnections.dec({ dialect: conn.dialect });
    return conn;
  };
  const upgradeBase = {
    nodeId,
    verifier,
    logger,
    rate: config.WS_PUSH_RATE,
    burst: config.WS_PUSH_BURST,
    maxBuffered: config.WS_MAX_BACKPRESSURE,
    isDraining: () => draining,
    limits,
  };

  app.ws<UserData>("/socket/websocket", {
    ...common,
    upgrade: handleUpgrade({ ...upgradeBase, dialect: "phx" }),
    open: (ws) => void opened(ws),
    message: (ws, message, isBinary) => {
      const conn = ws.getUserData().conn;
      if (isBinary) return ws.end(CloseCode.malformedFrame, "binary frames are not supported; use the JSON serializer");
      phx!.onMessage(conn, Buffer.from(message).toString("utf8"));
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
          if (!conn.closed) conn.ws?.end(1011, "internal_error");
          return false;
        },
      );
    },
    message: (ws, message) => {
      const conn = ws.getUserData().conn;
      void seed!.onMessage(conn, Buffer.from(message).toString("utf8"));
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
    const ok = !draining && redis.status === "ready" && sub.status === "ready";
    json(res, ok ? "200 OK" : "503 Service Unavailable", { status: ok ? "ready" : draining ? "draining" : "redis_unavailable", node: nodeId });
  });
  app.get("/metrics", (res) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    void metricsText().then((text) => {
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
  const liveTimer = setInterval(() => {
    for (const [eventId, users] of registry.liveUsers())
      seats.markLive(eventId, nodeId, users, LIVE_WINDOW_MS).catch((err: unknown) => logger.warn({ err, eventId }, "liveness refresh failed"));
  }, LIVE_WINDOW_MS / 3);
  liveTimer.unref();

  const slowTimer = setInterval(() => {
    for (const c of registry.conns.values()) if (closeIfSlow(c)) metrics.wsBackpressureDrops.inc();
  }, SLOW_CONSUMER_SWEEP_MS);
  slowTimer.unref();
  await chat.start();

  logger.info({ port }, "ws-node listening");
  const node: WsNode = {
    nodeId,
    port,
    async simulateCrash() {
      chat.presence.freeze();
      await node.close();
    },
    async close() {
      if (draining) return;
      draining = true;
      uWS.us_listen_socket_close(listenSocket);
      clearInterval(liveTimer);
      clearInterval(slowTimer);
      sessionGuard.stop();
      limits.close();
      const all = [...registry.conns.values()];
      for (let i = 0; i < all.length; i += DRAIN_BATCH) {
        for (const c of all.slice(i, i + DRAIN_BATCH)) if (!c.closed) c.ws?.end(CloseCode.goingAway, "node draining; reconnect");
        if (i + DRAIN_BATCH < all.length) await new Promise((r) => setTimeout(r, DRAIN_PAUSE_MS));
      }
      await chat.close();
      await jobs.close().catch(() => {});
      redis.disconnect();
      sub.disconnect();
      bull.disconnect();
      await db.close();
      logger.info("ws-node stopped");
    },
  };
  return node;
}
