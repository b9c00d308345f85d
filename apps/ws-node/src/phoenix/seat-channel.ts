import { encodePhx, encodeReply, phxPushesFor, uwsTopic, type WirePush } from "@seatdrop/protocol";
import { SeatError, isUuid } from "@seatdrop/seats";
import { sendTo, type Conn, type Join } from "../conn.ts";
import type { NodeContext } from "../context.ts";
import { prepareSeatView, type SeatView } from "../fanout/seat-view.ts";
import { startWatching, stopWatching } from "../seat-watch.ts";
import type { Channel } from "./channel.ts";

const SEAT_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * `seats:<eventId>`: the live seat map. Join answers with a snapshot (or, with `last_seq`, only the
 * missed events); pushes `lock`, `unlock`, `extend`.
 */
export class SeatChannel implements Channel {
  constructor(private readonly ctx: NodeContext) {}

  async join(conn: Conn, join: Join, ref: string | null, payload: Record<string, unknown>): Promise<void> {
    const { ctx } = this;
    const reply = (status: "ok" | "error", response: Record<string, unknown>) => sendTo(conn, encodeReply(join.joinRef, ref, join.topic, status, response));
    const lastSeq = payload.last_seq;
    if (lastSeq !== undefined && lastSeq !== null && !(Number.isSafeInteger(lastSeq) && (lastSeq as number) >= 0)) {
      conn.joins.delete(join.topic);
      reply("error", { reason: "malformed_payload", field: "last_seq", message: "last_seq must be a non-negative integer" });
      return;
    }
    const epoch = payload.epoch;
    if (epoch !== undefined && epoch !== null && typeof epoch !== "string") {
      conn.joins.delete(join.topic);
      reply("error", { reason: "malformed_payload", field: "epoch", message: "epoch must be the string a join reply gave" });
      return;
    }
    const current = () => !conn.closed && conn.joins.get(join.topic) === join;
    // Event ids are lower-case UUIDs (isUuid refuses other spellings). PostgreSQL would read
    // `seats:ABC…` as the same event, but broadcasts go out on the canonical topic, which such a
    // client would never match.
    if (!isUuid(join.eventId) || !(await ctx.seats.ensureEventLoaded(join.eventId))) {
      if (current()) conn.joins.delete(join.topic);
      reply("error", { reason: "unknown_event", message: `no event ${join.eventId} (event ids are lower-case UUIDs)` });
      return;
    }
    if (!current()) return;
    const feed = await ctx.feeds.acquire(join.eventId);
    let committed = false;
    try {
      await prepareSeatView({
        seats: ctx.seats,
        feed,
        eventId: join.eventId,
        userId: conn.userId,
        lastSeq: typeof lastSeq === "number" ? lastSeq : undefined,
        epoch: typeof epoch === "string" ? epoch : undefined,
        isCurrent: current,
        commit: (view) => {
          committed = true;
          join.live = true;
          conn.ws!.subscribe(uwsTopic.phxSeats(join.eventId));
          startWatching(ctx, conn, join.eventId);
          reply("ok", this.viewPayload(view, conn.userId));
        },
      });
    } catch (err) {
      ctx.logger.error({ err, eventId: join.eventId }, "seat join failed");
      if (current()) {
        conn.joins.delete(join.topic);
        reply("error", { reason: "internal_error", message: "could not load the seat map; retry" });
      }
    } finally {
      if (!committed) ctx.feeds.release(join.eventId);
    }
  }

  async handle(conn: Conn, join: Join, ref: string | null, event: string, payload: Record<string, unknown>): Promise<void> {
    const { ctx } = this;
    const reply = (status: "ok" | "error", response: Record<string, unknown>) => {
      if (conn.joins.get(join.topic) === join) sendTo(conn, encodeReply(join.joinRef, ref, join.topic, status, response));
    };
    if (event !== "lock" && event !== "unlock" && event !== "extend") {
      reply("error", { reason: "unsupported_event", message: `seats channels accept lock, unlock and extend, not ${event}` });
      return;
    }
    if (!conn.userId) {
      reply("error", { reason: "unauthorized", message: "sign in (connect with a token) to lock seats" });
      return;
    }
    const seat = payload.seat;
    if (event !== "extend" && (typeof seat !== "string" || !SEAT_RE.test(seat))) {
      reply("error", { reason: "malformed_payload", field: "seat", message: "seat must be a seat id such as A_2_2" });
      return;
    }
    try {
      if (event === "lock") {
        const r = await ctx.seats.lock({ eventId: join.eventId, userId: conn.userId, seatId: seat as string, origin: conn.tag });
        reply("ok", { seat, seq: r.seq, expires_at: r.deadline, hold_size: r.holdSize });
      } else if (event === "unlock") {
        const r = await ctx.seats.unlock({ eventId: join.eventId, userId: conn.userId, seatId: seat as string, origin: conn.tag });
        reply("ok", { seat, seq: r.seq, hold_size: r.seatsLeft });
      } else {
        const r = await ctx.seats.extend({ eventId: join.eventId, userId: conn.userId });
        reply("ok", { expires_at: r.deadline, extensions_left: r.extensionsLeft });
      }
    } catch (err) {
      if (err instanceof SeatError)
        reply("error", { reason: err.reason, message: err.message, ...(seat ? { seat } : {}), ...(err.retryAfterMs !== undefined ? { retry_after_ms: err.retryAfterMs } : {}) });
      else {
        ctx.logger.error({ err, event, eventId: join.eventId }, "seat push failed");
        reply("error", { reason: "internal_error", message: "the seat service is unavailable; retry" });
      }
    }
  }

  leave(conn: Conn, join: Join): void {
    if (!join.live) return;
    join.live = false;
    if (!conn.closed && conn.ws) conn.ws.unsubscribe(uwsTopic.phxSeats(join.eventId));
    stopWatching(this.ctx, conn, join.eventId);
  }

  /** Redis lost the event's history: the client rejoins (phx_error makes the stock client do so). */
  resync(conn: Conn, join: Join): void {
    this.leave(conn, join);
    conn.joins.delete(join.topic);
    sendTo(conn, encodePhx(join.joinRef, join.joinRef, join.topic, "phx_error", { reason: "resync" }));
  }

  private viewPayload(view: SeatView, userId: string | null): Record<string, unknown> {
    const hold = view.hold ? { seats: view.hold.seats, expires_at: view.hold.expiresAt, extensions_left: view.hold.extensionsLeft } : null;
    if (view.mode === "events") {
      return { mode: "events", seq: view.seq, epoch: view.epoch, user_id: userId, events: phxPushesFor(view.events, userId).map(flatten), hold };
    }
    const seats: Record<string, string> = {};
    for (const id of view.seatIds) seats[id] = view.taken.get(id)?.state ?? "available";
    return { mode: "snapshot", seq: view.seq, epoch: view.epoch, user_id: userId, seats, hold };
  }
}

function flatten(p: WirePush): Record<string, unknown> {
  return { event: p.event, ...p.payload };
}
