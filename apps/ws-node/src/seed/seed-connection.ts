import { timingSafeEqual } from "node:crypto";
import { CloseCode, SEED_BACKEND_ACTIONS, decodeSeed, encodeSeed, seedErrorEvents, uwsTopic, type SeedRequest } from "@seatdrop/protocol";
import { metrics } from "@seatdrop/observability";
import { SeatError, type SeatErrorReason } from "@seatdrop/seats";
import { endConn, sendJoinReply, sendTo, takeFrameToken, type Conn } from "../conn.ts";
import type { NodeContext } from "../context.ts";
import { prepareSeatView } from "../fanout/seat-view.ts";
import { startWatching, stopWatching } from "../seat-watch.ts";

const UNAUTHORIZED_TEXT = "You are unauthorized to do this.";

/**
 * The legacy seat dialect on `/`: its frames verbatim, `startstate` on connect, and the backend actions
 * guarded by `authorizationString`. A thin codec over the same seat service as the Phoenix channel.
 */
export class SeedSocket {
  private readonly secret: Buffer;

  constructor(private readonly ctx: NodeContext) {
    this.secret = Buffer.from(ctx.config.SERVICE_SECRET);
  }

  /** The socket opened: subscribes it and sends `startstate`. */
  opened(conn: Conn): void {
    this.start(conn, (err) => this.ctx.logger.error({ err }, "seed connection could not start"));
  }

  /**
   * Opens the connection's start state as `seedReady` (its frames wait for it) and records in
   * `seedCommitted` whether it subscribed (so close undoes it); on an error, `failed` logs it and
   * the socket closes with 1011.
   */
  private start(conn: Conn, failed: (err: unknown) => void): void {
    conn.seedReady = this.open(conn).then(
      (ok) => (conn.seedCommitted = ok),
      (err: unknown) => {
        failed(err);
        endConn(conn, CloseCode.internalError, "internal_error");
        return false;
      },
    );
  }

  /** Subscribes and sends `startstate`; resolves false when the connection had to close. */
  private async open(conn: Conn): Promise<boolean> {
    const { ctx } = this;
    const eventId = conn.seedEventId;
    if (!eventId || !(await ctx.seats.events.ensureEventLoaded(eventId))) {
      sendTo(conn, encodeSeed("error", { code: "unknown_event", field: "event", message: eventId ? `no event ${eventId}` : "connect with ?event=<eventId>" }));
      endConn(conn, CloseCode.unknownEvent, "unknown_event");
      return false;
    }
    if (conn.closed) return false;
    const feed = await ctx.feeds.acquire(eventId);
    let committed = false;
    try {
      await prepareSeatView({
        seats: ctx.seats,
        feed,
        eventId,
        userId: conn.userId,
        compact: true, // startstate lists taken seats only: the seat ids are not needed
        isCurrent: () => !conn.closed,
        commit: (view) => {
          if (view.mode !== "snapshot") return;
          committed = true;
          const data: Record<"reserved" | "paid" | "locked", string[]> = { reserved: [], paid: [], locked: [] };
          for (const [seat, s] of view.taken) data[s.state].push(seat);
          conn.ws!.subscribe(uwsTopic.seedSeats(eventId));
          startWatching(ctx, conn, eventId);
          // A sold-out venue's start state lists every seat: it may drain above WS_MAX_BACKPRESSURE.
          sendJoinReply(conn, encodeSeed("startstate", data));
        },
      });
    } finally {
      if (!committed) ctx.feeds.release(eventId);
    }
    return committed;
  }

  async onMessage(conn: Conn, text: string): Promise<void> {
    metrics.wsFramesIn.inc({ dialect: "seed" });
    const d = decodeSeed(text);
    // Every frame counts, at once, as in the Phoenix dialect (docs/reliability.md, round one,
    // finding 2): malformed ones, unknown actions, and frames sent before `startstate` too.
    // Counting only decoded actions after the socket was ready let a flood of junk through
    // uncounted, and 4429 never came.
    const admitted = takeFrameToken(conn, (retryAfterMs) =>
      // Legacy dialect frames carry no ref: the seat is what tells the client which action was refused.
      sendTo(conn, encodeSeed("error", { code: "rate_limited", ...(d.ok ? { seat: d.req.seat } : {}), retry_after_ms: retryAfterMs, message: "too many frames; slow down" })),
    );
    if (!admitted) return;
    if (!(await conn.seedReady) || conn.closed) return;
    if (!d.ok) {
      metrics.wsFrameErrors.inc({ reason: d.code });
      sendTo(conn, encodeSeed("error", { code: d.code, field: d.field, message: d.message }));
      return;
    }
    const req = d.req;
    try {
      await this.act(conn, req);
    } catch (err) {
      if (err instanceof SeatError) this.refuse(conn, err.reason, req.seat, err.message);
      else {
        this.ctx.logger.error({ err, action: req.action }, "seed action failed");
        sendTo(conn, encodeSeed("error", { code: "internal_error", seat: req.seat, message: "temporary failure; retry" }));
      }
    }
  }

  private async act(conn: Conn, req: SeedRequest): Promise<void> {
    const eventId = conn.seedEventId!;
    if (SEED_BACKEND_ACTIONS.has(req.action)) {
      if (!this.authorized(req.authorizationString)) return this.refuse(conn, "unauthorized", req.seat, UNAUTHORIZED_TEXT);
      // Backend actions are heard by everyone, their author included: it is the author's acknowledgement.
      await this.ctx.seats.setSeatState({ eventId, seatId: req.seat, action: req.action as "reserve" });
      return;
    }
    if (!conn.userId) return this.refuse(conn, "unauthorized", req.seat, UNAUTHORIZED_TEXT);
    // This dialect has no way to carry a waiting room's pass: an event with a room sells through the Phoenix socket.
    if (req.action === "lock" && (await this.ctx.rooms.settings(eventId)))
      return this.refuse(conn, "not_admitted", req.seat, "this event has a waiting room: buy through the Phoenix socket (queue:<event>, then seats:<event> with the pass)");
    // Success needs no reply here: the author's `lockedForYou` / `unlockedForYou` comes through the fan-out, in order.
    if (req.action === "lock") await this.ctx.seats.lock({ eventId, userId: conn.userId, seatId: req.seat, origin: conn.tag });
    else await this.ctx.seats.unlock({ eventId, userId: conn.userId, seatId: req.seat, origin: conn.tag });
  }

  private refuse(conn: Conn, reason: SeatErrorReason | "unauthorized" | "not_admitted", seat: string, message: string): void {
    const event = seedErrorEvents[reason];
    if (event === "unauthorized") sendTo(conn, encodeSeed("unauthorized", UNAUTHORIZED_TEXT));
    else if (event) sendTo(conn, encodeSeed(event, seat));
    else sendTo(conn, encodeSeed("error", { code: reason, seat, message }));
  }

  private authorized(given: string | undefined): boolean {
    if (!given) return false;
    const b = Buffer.from(given);
    return b.length === this.secret.length && timingSafeEqual(b, this.secret);
  }

  onClose(conn: Conn): void {
    if (!conn.seedEventId || !conn.seedCommitted) return;
    stopWatching(this.ctx, conn, conn.seedEventId);
    this.ctx.feeds.release(conn.seedEventId);
  }

  /** Redis lost the event's history: send a fresh `startstate`. */
  resync(eventId: string): void {
    for (const conn of [...this.ctx.registry.watchers(eventId)]) {
      if (conn.dialect !== "seed" || conn.closed) continue;
      conn.ws?.unsubscribe(uwsTopic.seedSeats(eventId));
      stopWatching(this.ctx, conn, eventId);
      this.ctx.feeds.release(eventId);
      conn.seedCommitted = false;
      this.start(conn, (err) => this.ctx.logger.error({ err, eventId }, "seed resync failed; closing the socket"));
    }
  }
}

