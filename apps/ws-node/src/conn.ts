import type { WebSocket } from "uWebSockets.js";
import { CloseCode } from "@seatdrop/protocol";
import { TokenBucket } from "./rate-limit.ts";

const SLOW_CONSUMER = CloseCode.slowConsumer;

/** A channel joined on a Phoenix connection. */
export interface Join {
  topic: string;
  joinRef: string;
  eventId: string;
  /** False while the join is still being answered; a newer join or a leave makes it stale. */
  live: boolean;
  /**
   * Seat joins with `{"changes": true}` (issue 7): coalesced `changes` frames instead of per-change
   * events, for the whole event (`sections` null) or the sections named.
   */
  changes?: { sections: string[] | null };
  /**
   * Pushes being served (issue 8, fault 12): a resync answers each with a retryable `resync` error
   * before `phx_error`, so no push in flight is left without a reply.
   */
  inflight?: Set<() => void>;
}

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
  /** Consecutive pushes refused by the rate limit; past a bound the socket is closed. */
  refusedInARow: number;
  /** Seed dialect: the event chosen by `?event=`, and the promise of its start state. */
  seedEventId?: string;
  seedReady?: Promise<boolean>;
  /** Seed dialect: whether the connection is subscribed and counted (so close must undo it). */
  seedCommitted?: boolean;
}

export interface UserData {
  conn: Conn;
}

let nextId = 1;
export function newConn(
  nodeId: string,
  dialect: Conn["dialect"],
  user: { userId: string; role: string; jti: string; exp?: number; issuedAtMs?: number; local?: boolean } | null,
  limits: { rate: number; burst: number; maxBuffered: number; ip?: string | null },
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
    refusedInARow: 0,
  };
}

/**
 * Sends if the socket is still open; returns false otherwise. A socket whose send buffer passed its
 * bound is closed as a slow consumer (4408) right here; broadcasts, which uWS buffers itself, are
 * checked by the node's periodic slow-consumer sweep (`closeIfSlow` every SLOW_CONSUMER_SWEEP_MS, node.ts).
 */
export function sendTo(conn: Conn, frame: string): boolean {
  if (conn.closed || !conn.ws) return false;
  conn.ws.send(frame, false);
  closeIfSlow(conn);
  return true;
}

/** Closes the socket with 4408 if it buffers more than its bound; true when it did. */
export function closeIfSlow(conn: Conn): boolean {
  if (conn.closed || !conn.ws || conn.ws.getBufferedAmount() <= conn.maxBuffered) return false;
  conn.ws.end(SLOW_CONSUMER, "slow consumer: rejoin with last_seq");
  return true;
}
