import { RateLimitedError } from "@seatdrop/limits";
import { isUuid, parsePush, queueJoinPayload } from "@seatdrop/protocol";
import { checkPow, type RoomInfo } from "@seatdrop/queue";
import type { NodeContext } from "../context.ts";
import { estimate } from "../queue/queue-node.ts";
import { Refusal, type ChannelModule, type Joining, type Pushing } from "./channel.ts";

/**
 * `queue:<eventId>`: the event's waiting room, for signed-in users. The join reply says where the
 * user stands (`pre_queue`, `waiting` with `position`/`ahead`/`eta_s`, `admitted` with the `pass`,
 * `sold_out`, `not_open`, `closed`) and carries the draw's `commitment`; then the node pushes
 * `position`, `admitted` and `sold_out` as they change (QueueNode). One place per user: every tab
 * and device of theirs, and every reconnect, finds the same one.
 */
export class QueueChannel implements ChannelModule<{ eventId: string }> {
  readonly label = "queue";

  constructor(private readonly ctx: NodeContext) {}

  async join(j: Joining<{ eventId: string }>): Promise<void> {
    const { ctx } = this;
    const userId = j.conn.userId;
    if (!userId) return j.refuse({ reason: "unauthorized", message: "sign in (connect with a token) to join a waiting room" });
    const parsed = parsePush(queueJoinPayload, j.payload);
    if (!parsed.ok) return j.refuse({ ...parsed.error });
    const eventId = j.subtopic;
    if (!isUuid(eventId)) return j.refuse({ reason: "unknown_event", message: `no event ${eventId} (event ids are lower-case UUIDs)` });
    const info = await ctx.rooms.settings(eventId);
    if (!info) {
      const known = await ctx.seats.events.ensureEventLoaded(eventId);
      return j.refuse(known ? { reason: "no_waiting_room", message: `event ${eventId} has no waiting room: join seats:${eventId} directly` } : { reason: "unknown_event", message: `no event ${eventId}` });
    }
    const pow = powRefusal(info, userId, parsed.value.nonce);
    if (pow) return j.refuse(pow);
    try {
      await ctx.limits.consume("queue_join", { ip: j.conn.ip, user: userId });
    } catch (err) {
      if (!(err instanceof RateLimitedError)) throw err;
      return j.refuse({ reason: "rate_limited", retry_after_ms: err.retryAfterMs, message: "too many waiting-room joins; retry later" });
    }
    if (!j.current()) return;
    const outcome = await ctx.rooms.join(eventId, userId);
    if (!j.current()) return;
    if (!outcome) return j.refuse({ reason: "no_waiting_room", message: `event ${eventId} has no waiting room any more` });
    const base = { commitment: info.commitment, opens_at: new Date(info.opensAt).toISOString(), sales_open_at: new Date(info.salesOpenAt).toISOString() };
    const none = { position: null, ahead: null, eta_s: null };
    const { conn, join } = j;
    j.onLeave(() => ctx.queue.remove(conn, join));
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
    j.accept({ ...response, ...base }, { eventId });
  }

  async handle(p: Pushing<{ eventId: string }>): Promise<Record<string, unknown>> {
    throw new Refusal({ reason: "unsupported_event", message: `waiting rooms only push; ${p.event} is not accepted` });
  }
}

/** A room asking for a proof of work refuses a join without a nonce, or with one that does not prove it. */
function powRefusal(info: RoomInfo, userId: string, nonce: string | null | undefined): Record<string, unknown> | undefined {
  if (info.powBits <= 0) return undefined;
  const rule = `SHA-256("<challenge>:<your user id>:<nonce>") starts with ${info.powBits} zero bits`;
  if (!nonce) return { reason: "pow_required", field: "nonce", bits: info.powBits, challenge: info.challenge, message: `this room asks for a proof of work: a nonce such that ${rule}` };
  if (!checkPow(info.challenge, userId, nonce, info.powBits))
    return { reason: "pow_invalid", field: "nonce", bits: info.powBits, challenge: info.challenge, message: `SHA-256("<challenge>:<your user id>:<nonce>") does not start with ${info.powBits} zero bits` };
  return undefined;
}
