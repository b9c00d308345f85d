import { CloseCode, PHX, decodePhx } from "@seatdrop/protocol";
import { metrics } from "@seatdrop/observability";
import { endConn, sendTo, takeFrameToken, type Conn } from "../conn.ts";
import { phoenixCodec as codec } from "../channels/codec.ts";
import { rateLimited, type ChannelRuntime } from "../channels/runtime.ts";

/**
 * The Phoenix Channels V2 socket at `/socket/websocket`: decodes frames, answers heartbeats, and
 * hands joins, leaves and pushes to the channel runtime. Every path answers: an error reply naming
 * the reason and field, or (for a frame with no ref to answer) a close with a documented code.
 */
export class PhoenixSocket {
  constructor(private readonly runtime: ChannelRuntime) {}

  /**
   * `text` is already a copy: uWS detaches the message's ArrayBuffer when the handler returns.
   * Returns the work still in flight (a join or a push being answered), so a drain can wait for it.
   */
  onMessage(conn: Conn, text: string): Promise<unknown> | undefined {
    metrics.wsFramesIn.inc({ dialect: "phx" });
    const d = decodePhx(text);
    // Every frame counts against the socket's bucket: joins, leaves, heartbeats, and pushes that
    // are refused or malformed alike (counting only accepted pushes let 1,000 joins on one socket,
    // each a Redis call and a query, all be answered, and 4429 never came: docs/reliability.md).
    const admitted = takeFrameToken(conn, (retryAfterMs) => {
      const where = d.ok ? { joinRef: d.frame[0], ref: d.frame[1], topic: d.frame[2] } : { joinRef: d.joinRef ?? null, ref: d.ref, topic: d.topic };
      // A frame with no ref cannot be answered; it was still counted.
      if (where.topic !== undefined && where.ref !== undefined && where.ref !== null)
        sendTo(conn, codec.reply({ joinRef: where.joinRef, ref: where.ref, topic: where.topic }, "error", rateLimited(retryAfterMs, "too many frames; slow down")));
    });
    if (!admitted) return;
    if (!d.ok) {
      metrics.wsFrameErrors.inc({ reason: d.reason });
      if (d.topic !== undefined && d.ref !== undefined) sendTo(conn, codec.reply({ joinRef: d.joinRef ?? null, ref: d.ref, topic: d.topic }, "error", { reason: d.reason, field: d.field }));
      else if (!conn.closed) endConn(conn, CloseCode.malformedFrame, `malformed_frame: ${d.field} (expected [join_ref, ref, topic, event, payload])`);
      return;
    }
    const [joinRef, ref, topic, event, payload] = d.frame;
    if (topic === PHX.heartbeatTopic) {
      if (event === PHX.heartbeat) sendTo(conn, codec.reply({ joinRef: null, ref, topic }, "ok", {}));
      else {
        metrics.wsFrameErrors.inc({ reason: "unsupported_event" });
        sendTo(conn, codec.reply({ joinRef: null, ref, topic }, "error", { reason: "unsupported_event" }));
      }
      return;
    }
    if (event === PHX.join) return this.runtime.join(conn, { joinRef: joinRef ?? ref, ref, topic }, payload);
    if (event === PHX.leave) return void this.runtime.leave(conn, { joinRef, ref, topic });
    return this.runtime.push(conn, { joinRef, ref, topic }, event, payload);
  }
}
