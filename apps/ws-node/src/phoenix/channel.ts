import type { Conn, Join } from "../conn.ts";

/** A topic family served by the Phoenix socket: `seats:*` (seat map), `event:*` (chat room), `user:*` (notifications). */
export interface Channel {
  /** Answers the join (reply ok or error); must set `join.live` when it succeeds. */
  join(conn: Conn, join: Join, ref: string | null, payload: Record<string, unknown>): Promise<void>;
  handle(conn: Conn, join: Join, ref: string | null, event: string, payload: Record<string, unknown>): Promise<void>;
  /** Releases what the join took. Called on phx_leave, on rejoin and on close (then the socket is gone). */
  leave(conn: Conn, join: Join): void;
}
