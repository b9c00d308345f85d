import type { WebSocket } from "uWebSockets.js";
import { metrics } from "@seatdrop/observability";
import { CloseCode, MAX_REFUSED_IN_A_ROW } from "@seatdrop/protocol";
import { TokenBucket } from "@seatdrop/limits";
import type { Join } from "./channels/channel.ts";

const SLOW_CONSUMER = CloseCode.slowConsumer;

/**
 * Everything a node knows about one WebSocket, kept in uWS's typed user data (never as fields
 * patched onto the socket). `ws` is set between `open` and `close` only: after `closed` turns true
 * nothing may touch it (uWS throws on a closed socket, and that has crashed production services).
 */
export interface Conn {
  id: number;
  /** `<nodeId>:<id>`: how seat messages name their author across the cluster. */
  tag: string;
  dialect: "phx" | "seed";
  userId: string | null;
  role: string | null;
  /** The id of the token the socket connected with, so a sign-out can close it. */
  jti: string | null;
  /** When the token expires (unix seconds): the node closes the socket then (4401). */
  tokenExp: number | null;
  /** When the token was issued (ms), and whether it is this cluster's own: for the session re-check. */
  tokenIssuedAtMs: number;
  tokenLocal: boolean;
  /** The client's address (X-Forwarded-For from a private peer), for per-address limits. */
  ip: string | null;
  /** Joins sent and not yet answered; capped at WS_JOINS_IN_FLIGHT. */
  joinsInFlight: number;
  ws: WebSocket<UserData> | null;
  closed: boolean;
  joins: Map<string, Join>;
  bucket: TokenBucket;
  /** WS_MAX_BACKPRESSURE: past this many buffered bytes the socket is a slow consumer (close 4408). */
  maxBuffered: number;
  /** WS_REPLY_STALL_MS: how long a join reply above the bound may sit without the client reading on. */
  replyStallMs: number;
  /**
   * Set while a join reply larger than the bound drains (`sendJoinReply`): the lowest the send
   * buffer has been since the reply, and when it last went lower.
   */
  replyDrain?: { low: number; at: number };
  /** The send buffer as last sampled, so the node's `sdc_ws_send_buffer_bytes` adds only the change. */
  buffered: number;
  /** Consecutive pushes refused by the rate limit; past a bound the socket is closed. */
  refusedInARow: number;
  /** The legacy seat dialect: the event chosen by `?event=`, and the promise of its seat join (true once joined). */
  seedEventId?: string;
  seedReady?: Promise<boolean>;
  /** Frames sendTo queued for this socket since the last flushSends (see there). */
  outbox?: string[];
}

export interface UserData {
  conn: Conn;
}

let nextId = 1;
export function newConn(
  nodeId: string,
  dialect: Conn["dialect"],
  user: { userId: string; role: string; jti: string; exp?: number; issuedAtMs?: number; local?: boolean } | null,
  limits: { rate: number; burst: number; maxBuffered: number; replyStallMs: number; ip?: string | null },
): Conn {
  const id = nextId++;
  return {
    id,
    tag: `${nodeId}:${id}`,
    dialect,
    userId: user?.userId ?? null,
    role: user?.role ?? null,
    jti: user?.jti ?? null,
    tokenExp: user?.exp ?? null,
    tokenIssuedAtMs: user?.issuedAtMs ?? 0,
    tokenLocal: user?.local ?? true,
    ip: limits.ip ?? null,
    joinsInFlight: 0,
    ws: null,
    closed: false,
    joins: new Map(),
    bucket: new TokenBucket(limits.rate, limits.burst),
    maxBuffered: limits.maxBuffered,
    replyStallMs: limits.replyStallMs,
    buffered: 0,
    refusedInARow: 0,
  };
}

/**
 * Queues a frame for the socket if it is still open; returns false otherwise. Frames go out at the
 * end of the event loop's current turn (flushSends), each socket's in one corked write.
 *
 * Why (profiled with --cpu-prof on the hot scenario): sends made outside a uWS callback (every
 * reply after a Redis round trip, every personal frame from the pub/sub feed) are one write(2)
 * each, and sent so, the writes were 30 % of a ws-node's CPU. A lock's reply and its author's
 * `lockedForYou` come back in the same turn (the script's reply and its PUBLISH are read together),
 * so corking a socket's frames of one turn makes them one write. Order is kept: everything that
 * sends by other means (uWS topic publishes, join replies, closes) flushes the queue first.
 *
 * A socket whose send buffer passes its bound (WS_MAX_BACKPRESSURE) is closed with 4408 at the
 * flush: before, when the frames would join a backlog beyond it (they are not sent at all: the
 * client reconnects and catches up anyway, and the close frame still fits under uWS's own limit),
 * else after, when the kernel left more than the bound in uWS. Broadcasts, which uWS buffers itself,
 * are checked by the node's periodic slow-consumer sweep (`closeIfSlow` every
 * SLOW_CONSUMER_SWEEP_MS, slow-consumers.ts).
 */
export function sendTo(conn: Conn, frame: string): boolean {
  if (conn.closed || !conn.ws) return false;
  if (conn.outbox) conn.outbox.push(frame);
  else {
    conn.outbox = [frame];
    queued.push(conn);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushSends);
    }
  }
  return true;
}

/** Sockets with frames in their outbox, in the order they were first queued. */
let queued: Conn[] = [];
let flushScheduled = false;

/** Sends every queued frame now, one corked write per socket. */
export function flushSends(): void {
  flushScheduled = false;
  if (queued.length === 0) return;
  const list = queued;
  queued = [];
  for (const c of list) flushConn(c);
}

function flushConn(c: Conn): void {
  const frames = c.outbox;
  c.outbox = undefined;
  if (!frames || c.closed || !c.ws) return;
  let bytes = 0;
  for (const f of frames) bytes += f.length;
  if (closeIfSlow(c, bytes)) return;
  const ws = c.ws;
  if (frames.length === 1) ws.send(frames[0]!, false);
  else ws.cork(() => {
    for (const f of frames) ws.send(f, false);
  });
  closeIfSlow(c);
}

/**
 * Takes a token from the socket's bucket for a frame it sent, in either dialect; true when the frame
 * may be served. A refused frame is answered by `refuse` (given how long to wait), except past
 * MAX_REFUSED_IN_A_ROW refusals in a row: then the socket is closed with 4429 instead.
 */
export function takeFrameToken(conn: Conn, refuse: (retryAfterMs: number) => void): boolean {
  if (conn.bucket.take()) {
    conn.refusedInARow = 0;
    return true;
  }
  metrics.wsFrameErrors.inc({ reason: "rate_limited" });
  if (++conn.refusedInARow > MAX_REFUSED_IN_A_ROW) endConn(conn, CloseCode.rateLimited, "rate_limited");
  else refuse(conn.bucket.retryAfterMs());
  return false;
}

/** Closes the socket with `code`, after the frames already queued for it (a refusal before its close). */
export function endConn(conn: Conn, code: number, reason: string): void {
  if (conn.closed || !conn.ws) return;
  flushConn(conn);
  if (!conn.closed) conn.ws?.end(code, reason);
}

/**
 * Sends a join's reply: the one frame a client asks for that may alone be larger than
 * WS_MAX_BACKPRESSURE (a legacy full snapshot of a 100,000-seat venue is 2.2 MB, a sold-out one's
 * compact snapshot 2 MB). Over a real network the kernel takes only the first ~80 KB at once and
 * uWS keeps the rest, so measuring the reply against the bound would close every joiner of a large
 * venue with 4408, on each of its rejoins too (`apps/ws-node/test/join-snapshot.test.ts`).
 *
 * So a socket that was within its bound before the reply may hold the reply above it while the
 * client reads it, and the bound then applies to what queues behind the reply: the buffer may rise
 * at most WS_MAX_BACKPRESSURE above the lowest level it reached since the reply, and that low must
 * keep falling (a new low at least every WS_REPLY_STALL_MS) until the buffer is back within the
 * bound. A client that stops reading is still closed with 4408, holding at most the reply and the
 * bound; a socket already past the bound gets no such allowance (the reply counts against it).
 */
export function sendJoinReply(conn: Conn, frame: string): boolean {
  if (conn.closed || !conn.ws) return false;
  flushSends(); // frames queued before this reply go out before it
  if (conn.closed || !conn.ws) return false;
  if (conn.ws.getBufferedAmount() > conn.maxBuffered) return sendTo(conn, frame);
  conn.ws.send(frame, false);
  const after = conn.ws.getBufferedAmount();
  if (after > conn.maxBuffered) {
    metrics.wsJoinRepliesOverBound.inc();
    conn.replyDrain = { low: after, at: Date.now() };
  }
  closeIfSlow(conn);
  return true;
}

/**
 * Closes the socket with 4408 if it buffers more than it may (its bound, or the allowance of a
 * draining join reply: `sendJoinReply`), counting `adding` bytes about to be sent; true when it did.
 */
export function closeIfSlow(conn: Conn, adding = 0, now = Date.now()): boolean {
  if (conn.closed || !conn.ws) return false;
  const buffered = conn.ws.getBufferedAmount();
  if (buffered !== conn.buffered) {
    metrics.wsSendBufferBytes.inc(buffered - conn.buffered);
    conn.buffered = buffered;
  }
  let allowed = conn.maxBuffered;
  const drain = conn.replyDrain;
  if (drain && buffered <= conn.maxBuffered) conn.replyDrain = undefined;
  else if (drain) {
    if (buffered < drain.low) Object.assign(drain, { low: buffered, at: now });
    allowed = now - drain.at > conn.replyStallMs ? -1 : drain.low + conn.maxBuffered;
  }
  // Into an empty buffer the kernel may take a frame whole; only a backlog surely grows by it.
  if (buffered + (buffered > 0 ? adding : 0) <= allowed) return false;
  metrics.wsBackpressureDrops.inc();
  conn.ws.end(SLOW_CONSUMER, "slow consumer: rejoin with last_seq");
  return true;
}

/** The socket closed: its send buffer no longer counts in `sdc_ws_send_buffer_bytes`. */
export function forgetBuffered(conn: Conn): void {
  metrics.wsSendBufferBytes.dec(conn.buffered);
  conn.buffered = 0;
}
