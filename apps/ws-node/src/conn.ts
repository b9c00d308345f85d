import type { WebSocket } from "uWebSockets.js";
import { TokenBucket } from "./rate-limit.ts";

/** A channel joined on a Phoenix connection. */
export interface Join {
  topic: string;
  joinRef: string;
  eventId: string;
  /** False while the join is still being answered; a newer join or a leave makes it stale. */
  live: boolean;
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
  ws: WebSocket<UserData> | null;
  closed: boolean;
  joins: Map<string, Join>;
  bucket: TokenBucket;
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
export function newConn(nodeId: string, dialect: Conn["dialect"], user: { userId: string; role: string } | null, rate: number, burst: number): Conn {
  const id = nextId++;
  return {
    id,
    tag: `${nodeId}:${id}`,
    dialect,
    userId: user?.userId ?? null,
    role: user?.role ?? null,
    ws: null,
    closed: false,
    joins: new Map(),
    bucket: new TokenBucket(rate, burst),
    refusedInARow: 0,
  };
}

/** Sends if the socket is still open; returns false otherwise. */
export function sendTo(conn: Conn, frame: string): boolean {
  if (conn.closed || !conn.ws) return false;
  conn.ws.send(frame, false);
  return true;
}
