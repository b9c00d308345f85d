import { RateLimitedError } from "@seatdrop/limits";
import { CloseCode, PHX, decodePhx, encodePhx, encodeReply, parseTopic } from "@seatdrop/protocol";
import { metrics } from "@seatdrop/observability";
import { endConn, sendTo, takeFrameToken, type Conn, type Join } from "../conn.ts";
import type { NodeContext } from "../context.ts";
import type { Channel } from "./channel.ts";
import { ChatChannel } from "./chat-channel.ts";
import { SeatChannel } from "./seat-channel.ts";
import { QueueChannel } from "../queue/queue-channel.ts";
import { UserChannel } from "./user-channel.ts";

/** What a join refused for the in-flight cap suggests waiting: about one join's round trip. */
const JOIN_IN_FLIGHT_RETRY_MS = 250;

/**
 * The Phoenix Channels V2 socket at `/socket/websocket`: heartbeats, joins, leaves and pushes,
 * routed to the channel that serves the topic. Every path answers: an error reply naming the
 * reason and field, or (for a frame with no ref to answer) a close with a documented code.
 */
export class PhoenixSocket {
  readonly seats: SeatChannel;
  private readonly channels: Record<string, Channel>;

  constructor(private readonly ctx: NodeContext) {
    this.seats = new SeatChannel(ctx);
    this.channels = { seats: this.seats, event: new ChatChannel(ctx), user: new UserChannel(ctx), queue: new QueueChannel(ctx) };
  }

  /**
   * `text` is already a copy: uWS detaches the message's ArrayBuffer when the handler returns.
   * Returns the work still in flight (a join or a push being answered), so a drain can wait for it.
   */
  onMessage(conn: Conn, text: string): Promise<void> | undefined {
    metrics.wsFramesIn.inc({ dialect: "phx" });
    const d = decodePhx(text);
    // Every frame counts against the socket's bucket: joins, leaves, heartbeats, and pushes that
    // are refused or malformed alike (docs/reliability.md, round one, finding 2: counting only
    // accepted pushes let 1,000 joins on one socket, each a Redis call and a query, all be
    // answered, and 4429 never came).
    const admitted = takeFrameToken(conn, (retryAfterMs) => {
      const where = d.ok ? { joinRef: d.frame[0], ref: d.frame[1], topic: d.frame[2] } : { joinRef: d.joinRef ?? null, ref: d.ref, topic: d.topic };
      // A frame with no ref cannot be answered; it was still counted.
      if (where.topic !== undefined && where.ref !== undefined && where.ref !== null)
        sendTo(conn, encodeReply(where.joinRef, where.ref, where.topic, "error", rateLimited(retryAfterMs, "too many frames; slow down")));
    });
    if (!admitted) return;
    if (!d.ok) {
      metrics.wsFrameErrors.inc({ reason: d.reason });
      if (d.topic !== undefined && d.ref !== undefined) {
        sendTo(conn, encodeReply(d.joinRef ?? null, d.ref, d.topic, "error", { reason: d.reason, field: d.field }));
      } else if (!conn.closed) {
        endConn(conn, CloseCode.malformedFrame, `malformed_frame: ${d.field} (expected [join_ref, ref, topic, event, payload])`);
      }
      return;
    }
    const [joinRef, ref, topic, event, payload] = d.frame;
    if (topic === PHX.heartbeatTopic) {
      if (event === PHX.heartbeat) sendTo(conn, encodeReply(null, ref, topic, "ok", {}));
      else {
        metrics.wsFrameErrors.inc({ reason: "unsupported_event" });
        sendTo(conn, encodeReply(null, ref, topic, "error", { reason: "unsupported_event" }));
      }
      return;
    }
    if (event === PHX.join) return this.join(conn, joinRef ?? ref, ref, topic, payload);
    const join = conn.joins.get(topic);
    if (event === PHX.leave) return void this.leave(conn, join, joinRef, ref, topic);
    if (!join || !join.live || join.joinRef !== joinRef) {
      metrics.wsFrameErrors.inc({ reason: "not_joined" });
      sendTo(conn, encodeReply(joinRef, ref, topic, "error", { reason: "not_joined", message: `join ${topic} before pushing to it` }));
      return;
    }
    const channel = this.channels[topic.slice(0, topic.indexOf(":"))];
    return channel!.handle(conn, join, ref, event, payload).catch((err: unknown) => this.internalError(conn, join.joinRef, ref, topic, err));
  }

  private async join(conn: Conn, joinRef: string | null, ref: string | null, topic: string, payload: Record<string, unknown>): Promise<void> {
    const parsed = parseTopic(topic);
    const channel = parsed ? this.channels[parsed.kind] : undefined;
    if (!parsed || !channel || joinRef === null) {
      metrics.wsFrameErrors.inc({ reason: "unmatched_topic" });
      sendTo(conn, encodeReply(joinRef, ref, topic, "error", { reason: "unmatched topic" }));
      return;
    }
    // Joins waiting for their reply are capped per socket: each costs Redis and PostgreSQL work.
    if (conn.joinsInFlight >= this.ctx.config.WS_JOINS_IN_FLIGHT) {
      metrics.wsFrameErrors.inc({ reason: "rate_limited" });
      sendTo(conn, encodeReply(joinRef, ref, topic, "error", rateLimited(JOIN_IN_FLIGHT_RETRY_MS, `at most ${this.ctx.config.WS_JOINS_IN_FLIGHT} joins may wait for their reply`)));
      return;
    }
    conn.joinsInFlight++;
    try {
      await this.joinAdmitted(conn, channel, parsed, joinRef, ref, topic, payload);
    } finally {
      conn.joinsInFlight--;
    }
  }

  private async joinAdmitted(
    conn: Conn,
    channel: Channel,
    parsed: NonNullable<ReturnType<typeof parseTopic>>,
    joinRef: string,
    ref: string | null,
    topic: string,
    payload: Record<string, unknown>,
  ): Promise<void> {
    const old = conn.joins.get(topic);
    if (old) {
      // A second join of a joined topic: close the old one first, as Phoenix does.
      this.channelOf(topic).leave(conn, old);
      sendTo(conn, encodePhx(old.joinRef, old.joinRef, topic, PHX.close, {}));
    }
    // For `user:<id>` topics the join's id is the user id (UserChannel reads it from there).
    // Registered before any await, so joins and leaves of one topic take effect in the order sent.
    const join: Join = { topic, joinRef, eventId: parsed.kind === "user" ? parsed.userId : parsed.eventId, live: false };
    conn.joins.set(topic, join);
    // A chat join naming a ticket number is a claim: counted per user and per address across the
    // cluster, so numbers cannot be guessed at speed (docs/reliability.md, round one, finding 1).
    if (parsed.kind === "event" && payload.ticket_number !== undefined && conn.userId) {
      try {
        await this.ctx.limits.consume("ticket_claim", { ip: conn.ip, user: conn.userId });
      } catch (err) {
        if (conn.joins.get(topic) === join) conn.joins.delete(topic);
        if (!(err instanceof RateLimitedError)) return this.internalError(conn, joinRef, ref, topic, err);
        metrics.wsFrameErrors.inc({ reason: "rate_limited" });
        sendTo(conn, encodeReply(joinRef, ref, topic, "error", rateLimited(err.retryAfterMs, "too many ticket claims; retry later")));
        return;
      }
    }
    try {
      await channel.join(conn, join, ref, payload);
    } catch (err) {
      if (conn.joins.get(topic) === join) conn.joins.delete(topic);
      this.internalError(conn, joinRef, ref, topic, err);
    }
  }

  private leave(conn: Conn, join: Join | undefined, joinRef: string | null, ref: string | null, topic: string): void {
    if (join) {
      this.channelOf(topic).leave(conn, join);
      conn.joins.delete(topic);
    }
    sendTo(conn, encodeReply(joinRef, ref, topic, "ok", {}));
    sendTo(conn, encodePhx(joinRef, joinRef, topic, PHX.close, {}));
  }

  /** The socket closed: release every join without touching the socket. */
  onClose(conn: Conn): void {
    for (const join of conn.joins.values()) this.channelOf(join.topic).leave(conn, join);
    conn.joins.clear();
  }

  /** Every Phoenix connection watching the event gets phx_error and rejoins from a fresh snapshot. */
  resync(eventId: string): void {
    for (const conn of [...this.ctx.registry.watchers(eventId)]) {
      if (conn.dialect !== "phx") continue;
      const join = conn.joins.get(`seats:${eventId}`);
      if (join) this.seats.resync(conn, join);
    }
  }

  private channelOf(topic: string): Channel {
    return this.channels[topic.slice(0, topic.indexOf(":"))]!;
  }

  private internalError(conn: Conn, joinRef: string | null, ref: string | null, topic: string, err: unknown): void {
    this.ctx.logger.error({ err, topic }, "phoenix handler failed");
    sendTo(conn, encodeReply(joinRef, ref, topic, "error", { reason: "internal_error", message: "temporary failure; retry" }));
  }
}

/** The `rate_limited` reply: how long to wait, in milliseconds, beside the reason. */
function rateLimited(retryAfterMs: number, message: string): Record<string, unknown> {
  return { reason: "rate_limited", message, retry_after_ms: retryAfterMs };
}
