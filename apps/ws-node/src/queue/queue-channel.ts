import { RateLimitedError } from "@seatdrop/limits";
import { joinRefusal, metrics } from "@seatdrop/observability";
import { encodeReply, isUuid, parsePush, queueJoinPayload } from "@seatdrop/protocol";
import { checkPow } from "@seatdrop/queue";
import { sendTo, type Conn, type Join } from "../conn.ts";
import type { NodeContext } from "../context.ts";
import type { Channel } from "../phoenix/channel.ts";
import { estimate } from "./queue-node.ts";

/**
 * `queue:<eventId>`: the event's waiting room, for signed-in users. The join reply says where the
 * user stands (`pre_queue`, `waiting` with `position`/`ahead`/`eta_s`, `admitted` with the `pass`,
 * `sold_out`, `not_open`, `closed`) and carries the draw's `commitment`; then the node pushes
 * `position`, `admitted` and `sold_out` as they change (QueueNode). One place per user: every tab
 * and device of theirs, and every reconnect, finds the same one.
 */
export class QueueChannel implements Channel {
  constructor(private readonly ctx: NodeContext) {}

  async join(conn: Conn, join: Join, ref: string | null, payload: Record<string, unknown>): Promise<void> {
    const { ctx } = this;
    const current = () => !conn.closed && conn.joins.get(join.topic) === join;
    const refuse = (response: Record<string, unknown>) => {
      metrics.joinsRefused.inc({ channel: "queue", reason: joinRefusal(response.reason) });
      if (current()) conn.joins.delete(join.topic);
      sendTo(conn, encodeReply(join.joinRef, ref, join.topic, "error", response));
    };
    const userId = conn.userId;
    if (!userId) return refuse({ reason: "unauthorized", message: "sign in (connect with a token) to join a waiting room" });
    const parsed = parsePush(queueJoinPayload, payload);
    if (!parsed.ok) return refuse({ ...parsed.error });
    const eventId = join.eventId;
    if (!isUuid(eventId)) return refuse({ reason: "unknown_event", message: `no event ${eventId} (event ids are lower-case UUIDs)` });
    const info = await ctx.rooms.settings(eventId);
    if (!info) {
      const known = await ctx.seats.events.ensureEventLoaded(eventId);
      return refuse(known ? { reason: "no_waiting_room", message: `event ${eventId} has no waiting room: join seats:${eventId} directly` } : { reason: "unknown_event", message: `no event ${eventId}` });
    }
    if (info.powBits > 0) {
      const nonce = parsed.value.nonce;
      if (!nonce)
        return refuse({ reason: "pow_required", field: "nonce", bits: info.powBits, challenge: info.challenge, message: `this room asks for a proof of work: a nonce such that SHA-256("<challenge>:<your user id>:<nonce>") starts with ${info.powBits} zero bits` });
      if (!checkPow(info.challenge, userId, nonce, info.powBits))
        return refuse({ reason: "pow_invalid", field: "nonce", bits: info.powBits, challenge: info.challenge, message: `SHA-256("<challenge>:<your user id>:<nonce>") does not start with ${info.powBits} zero bits` });
    }
    try {
      await ctx.limits.consume("queue_join", { ip: conn.ip, user: userId });
    } catch (err) {
      if (!(err instanceof RateLimitedError)) throw err;
      return refuse({ reason: "rate_limited", retry_after_ms: err.retryAfterMs, message: "too many waiting-room joins; retry later" });
    }
    if (!current()) return;
    const outcome = await ctx.rooms.join(eventId, userId);
    if (!current()) return;
    if (!outcome) return refuse({ reason: "no_waiting_room", message: `event ${eventId} has no waiting room any more` });
    join.live = true;
    const base = { commitment: info.commitment, opens_at: new Date(info.opensAt).toISOString(), sales_open_at: new Date(info.salesOpenAt).toISOString() };
    const none = { position: null, ahead: null, eta_s: null };
    let response: Record<string, unknown>;
    if (outcome.state === "admitted") {
      ctx.queue.add(conn, join, info, { epoch: outcome.epoch, until: outcome.until });
      response = { state: "admitted", ...none, pass: ctx.rooms.passes.sign(eventId, userId, outcome.until), expires_at: outcome.until, server_time: Date.now() };
    } else if (outcome.state === "waiting" || outcome.state === "sold_out") {
      const told = ctx.queue.add(conn, join, info, { epoch: outcome.epoch, place: outcome.place });
      const latest = ctx.queue.latest(eventId);
      const now = estimate(outcome.ahead, latest ?? { perMinute: 0, free: Number.MAX_SAFE_INTEGER, seatsPerBuyer: 1 });
      // A second tab never shows a higher place than the first was told.
      if (told && told.position < now.position) Object.assign(now, { position: told.position, ahead: told.ahead });
      ctx.queue.noteTold(eventId, userId, now);
      response = { state: outcome.state, ...now };
    } else {
      ctx.queue.add(conn, join, info, { epoch: outcome.epoch });
      response = { state: outcome.state, ...none };
    }
    sendTo(conn, encodeReply(join.joinRef, ref, join.topic, "ok", { ...response, ...base }));
  }

  async handle(conn: Conn, join: Join, ref: string | null, event: string): Promise<void> {
    metrics.wsFrameErrors.inc({ reason: "unsupported_event" });
    sendTo(conn, encodeReply(join.joinRef, ref, join.topic, "error", { reason: "unsupported_event", message: `waiting rooms only push; ${event} is not accepted` }));
  }

  leave(conn: Conn, join: Join): void {
    if (!join.live) return;
    join.live = false;
    this.ctx.queue.remove(conn, join);
  }
}
