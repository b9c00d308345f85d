import { timingSafeEqual } from "node:crypto";
import { CloseCode, SEED_BACKEND_ACTIONS, decodeSeed, encodeSeed, seatsTopic, type SeedRequest } from "@seatdrop/protocol";
import { metrics } from "@seatdrop/observability";
import { SeatError } from "@seatdrop/seats";
import { endConn, sendTo, takeFrameToken, type Conn } from "../conn.ts";
import type { NodeContext } from "../context.ts";
import { SEED_JOIN_REF, seedCodec } from "../channels/codec.ts";
import type { ChannelRuntime } from "../channels/runtime.ts";

/**
 * The legacy seat dialect on `/`: its frames verbatim, `startstate` on connect, and the backend
 * actions guarded by `authorizationString`. A codec over the channel runtime (channels/codec.ts,
 * `seedCodec`): the socket joins `seats:<?event=>` when it opens, and `lock`/`unlock` are pushes on
 * that join, served by the same seat channel as the Phoenix socket's.
 */
export class SeedSocket {
  private readonly secret: Buffer;

  constructor(
    private readonly ctx: NodeContext,
    private readonly runtime: ChannelRuntime,
  ) {
    this.secret = Buffer.from(ctx.config.SERVICE_SECRET);
  }

  /** The socket opened: joins its event's seats, whose reply is `startstate`. */
  opened(conn: Conn): void {
    this.start(conn);
  }

  /** Redis lost the event's history and the seat join crashed: a fresh `startstate`. */
  restart(conn: Conn): void {
    if (!conn.closed) this.start(conn);
  }

  /**
   * Joins as `seedReady` (the socket's frames wait for it). A join refused was told in an `error`
   * frame; the socket then closes, with 4404 for an unknown event and 1011 otherwise.
   */
  private start(conn: Conn): void {
    const topic = seatsTopic(conn.seedEventId ?? "");
    conn.seedReady = this.runtime.join(conn, { joinRef: SEED_JOIN_REF, ref: SEED_JOIN_REF, topic }, {}).then(
      (refused) => {
        if (refused === null) return true;
        if (refused === "unknown_event") endConn(conn, CloseCode.unknownEvent, "unknown_event");
        else endConn(conn, CloseCode.internalError, "internal_error");
        return false;
      },
      (err: unknown) => {
        this.ctx.logger.error({ err }, "seed connection could not start");
        endConn(conn, CloseCode.internalError, "internal_error");
        return false;
      },
    );
  }

  async onMessage(conn: Conn, text: string): Promise<void> {
    metrics.wsFramesIn.inc({ dialect: "seed" });
    const d = decodeSeed(text);
    // Every frame counts, at once, as in the Phoenix dialect: malformed ones, unknown actions, and
    // frames sent before `startstate` too. Counting only decoded actions after the socket was
    // ready let a flood of junk through uncounted, and 4429 never came (docs/reliability.md).
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
    // Success needs no reply here: the author's `lockedForYou` / `unlockedForYou` comes through the fan-out, in order.
    if (!SEED_BACKEND_ACTIONS.has(req.action)) return this.runtime.push(conn, { joinRef: SEED_JOIN_REF, ref: null, topic: seatsTopic(conn.seedEventId!) }, req.action, { seat: req.seat });
    await this.backendAction(conn, req);
  }

  /** `reserve`, `pay`, …: the box office's actions, heard by everyone, their author included (its acknowledgement). */
  private async backendAction(conn: Conn, req: SeedRequest): Promise<void> {
    const refuse = (reason: string, message: string) => {
      sendTo(conn, seedCodec.reply({ joinRef: SEED_JOIN_REF, ref: null, topic: "" }, "error", { reason, seat: req.seat, message })!);
    };
    if (!this.authorized(req.authorizationString)) return refuse("unauthorized", "unauthorized");
    try {
      await this.ctx.seats.setSeatState({ eventId: conn.seedEventId!, seatId: req.seat, action: req.action as "reserve" });
    } catch (err) {
      if (err instanceof SeatError) return refuse(err.reason, err.message);
      this.ctx.logger.error({ err, action: req.action }, "seed action failed");
      refuse("internal_error", "temporary failure; retry");
    }
  }

  private authorized(given: string | undefined): boolean {
    if (!given) return false;
    const b = Buffer.from(given);
    return b.length === this.secret.length && timingSafeEqual(b, this.secret);
  }
}
