import { encodePhx, encodeReply, finalStates, isUuid, parsePush, phxPushesFor, seatJoinPayload, seatPushPayloads, uwsTopic, type WirePush } from "@seatdrop/protocol";
import { joinRefusal, metrics } from "@seatdrop/observability";
import { SeatError } from "@seatdrop/seats";
import { sendJoinReply, sendTo, type Conn, type Join } from "../conn.ts";
import type { NodeContext } from "../context.ts";
import type { EventFeed } from "../fanout/event-feed.ts";
import { prepareSeatView, type SeatView } from "../fanout/seat-view.ts";
import { startWatching, stopWatching } from "../seat-watch.ts";
import { bestAvailable, PushFieldError, type BestAvailablePush } from "./best-available.ts";
import type { Channel } from "./channel.ts";

/**
 * `seats:<eventId>`: the live seat map. Join answers with a snapshot (or, with `last_seq`, only the
 * missed events); pushes `lock`, `unlock`, `extend`.
 *
 * With `{"changes": true}` the join's snapshot is compact (taken seats only; the layout
 * comes from `GET /api/events/:id/layout`), a `last_seq` catch-up gives final states, and updates
 * arrive as coalesced `changes` frames, for the whole event or for the `sections` named.
 */
export class SeatChannel implements Channel {
  constructor(private readonly ctx: NodeContext) {}

  async join(conn: Conn, join: Join, ref: string | null, payload: Record<string, unknown>): Promise<void> {
    const { ctx } = this;
    const reply = (status: "ok" | "error", response: Record<string, unknown>) => {
      // Every refusal of a join goes through here.
      if (status === "error") metrics.joinsRefused.inc({ channel: "seats", reason: joinRefusal(response.reason) });
      // A snapshot may alone be larger than WS_MAX_BACKPRESSURE: it may drain above the bound.
      sendJoinReply(conn, encodeReply(join.joinRef, ref, join.topic, status, response));
    };
    const parsed = parsePush(seatJoinPayload, payload);
    if (!parsed.ok) {
      conn.joins.delete(join.topic);
      reply("error", { ...parsed.error });
      return;
    }
    const mode = parsed.value;
    const current = () => !conn.closed && conn.joins.get(join.topic) === join;
    // Event ids are lower-case UUIDs (isUuid refuses other spellings). PostgreSQL would read
    // `seats:ABC…` as the same event, but broadcasts go out on the canonical topic, which such a
    // client would never match.
    if (!isUuid(join.eventId) || !(await ctx.seats.events.ensureEventLoaded(join.eventId))) {
      if (current()) conn.joins.delete(join.topic);
      reply("error", { reason: "unknown_event", message: `no event ${join.eventId} (event ids are lower-case UUIDs)` });
      return;
    }
    if (!current()) return;
    const room = await this.checkPass(conn, join, mode.pass);
    if (room === "malformed") {
      if (current()) conn.joins.delete(join.topic);
      reply("error", { reason: "malformed_payload", field: "pass", message: "pass is not a waiting-room pass (use the one the admitted push or the queue join gave)" });
      return;
    }
    if (!current()) return;
    const feed = await ctx.feeds.acquire(join.eventId);
    let committed = false;
    try {
      let sectionOf: Map<string, string> | undefined;
      if (mode.sections) {
        sectionOf = await (feed.sectionOf ??= ctx.seats.events.seatSections(join.eventId).catch((err: unknown) => {
          feed.sectionOf = undefined; // a database hiccup is not remembered: the next join reads again
          throw err;
        }));
        if (!current()) return;
        const known = new Set(sectionOf.values());
        const unknown = mode.sections.filter((s) => !known.has(s));
        if (unknown.length > 0) {
          conn.joins.delete(join.topic);
          reply("error", {
            reason: "malformed_payload",
            field: "sections",
            message: `unknown section${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => JSON.stringify(u)).join(", ")}; the event's sections are listed by GET /api/events/${join.eventId}/layout`,
          });
          return;
        }
      }
      const inSections = mode.sections && sectionOf ? sectionFilter(sectionOf, mode.sections) : undefined;
      await prepareSeatView({
        seats: ctx.seats,
        feed,
        eventId: join.eventId,
        userId: conn.userId,
        lastSeq: mode.lastSeq,
        epoch: mode.epoch,
        compact: mode.changes,
        isCurrent: current,
        commit: (view) => {
          committed = true;
          join.live = true;
          if (mode.changes) {
            join.changes = { sections: mode.sections };
            // The streams start at the feed's position, which is where this view ends.
            for (const t of ctx.changes.watch(join.eventId, mode.sections, feed.lastSeq, sectionOf)) conn.ws!.subscribe(t);
          } else conn.ws!.subscribe(uwsTopic.phxSeats(join.eventId));
          startWatching(ctx, conn, join.eventId);
          if (!mode.changes && view.mode === "snapshot") {
            // The whole map: its `seats` encoded once per (epoch, seq) for every join at that position,
            // and the reply charged to the socket's bucket by its size (a token per whole 64 KiB, so
            // a small venue's map costs only its frame's token).
            const frame = this.wholeMapReply(feed, join, ref, view, conn.userId, room);
            conn.bucket.charge(Math.floor(frame.length / WHOLE_MAP_BYTES_PER_TOKEN));
            sendJoinReply(conn, frame);
            return;
          }
          const body = mode.changes ? this.compactPayload(view, conn.userId, mode.sections, inSections) : this.eventsPayload(view as Extract<SeatView, { mode: "events" }>, conn.userId);
          if (room) body.waiting_room = room;
          reply("ok", body);
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
    let answered = false;
    const reply = (status: "ok" | "error", response: Record<string, unknown>) => {
      if (answered) return;
      answered = true;
      join.inflight?.delete(abort);
      if (conn.joins.get(join.topic) === join) sendTo(conn, encodeReply(join.joinRef, ref, join.topic, status, response));
    };
    const abort = () =>
      reply("error", {
        reason: "resync",
        retryable: true,
        message: "the seat map was resynchronised while this push was in flight; it may have taken effect: rejoin, check your hold, retry",
        ...(typeof payload.seat === "string" ? { seat: payload.seat } : {}),
      });
    (join.inflight ??= new Set()).add(abort);
    /** A push refused before it reaches the seat service. */
    const refuse = (reason: "unsupported_event" | "unauthorized" | "malformed_payload", response: Record<string, unknown>) => {
      metrics.wsFrameErrors.inc({ reason });
      reply("error", { reason, ...response });
    };
    if (event !== "lock" && event !== "unlock" && event !== "extend" && event !== "best_available") {
      refuse("unsupported_event", { message: `seats channels accept lock, unlock, extend and best_available, not ${event}` });
      return;
    }
    if (!conn.userId) {
      refuse("unauthorized", { message: "sign in (connect with a token) to lock seats" });
      return;
    }
    const parsed = parsePush(seatPushPayloads[event], payload);
    if (!parsed.ok) {
      refuse("malformed_payload", { field: parsed.error.field, message: parsed.error.message });
      return;
    }
    const seat = "seat" in parsed.value ? parsed.value.seat : undefined;
    // An event with a waiting room sells only to admitted buyers, until their turn ends.
    if ((event === "lock" || event === "best_available") && join.room && !((join.passUntil ?? 0) > Date.now())) {
      metrics.wsFrameErrors.inc({ reason: "not_admitted" });
      reply("error", {
        reason: "not_admitted",
        seat,
        message: join.passUntil ? "your turn has ended: join the waiting room again" : "this event has a waiting room: join queue:<event> and rejoin the seats with the pass you are given",
      });
      return;
    }
    try {
      if (event === "lock") {
        const r = await ctx.seats.lock({ eventId: join.eventId, userId: conn.userId, seatId: seat!, origin: conn.tag });
        reply("ok", { seat, seq: r.seq, expires_at: r.deadline, hold_size: r.holdSize });
      } else if (event === "best_available") {
        reply("ok", await bestAvailable(ctx, conn, join, parsed.value as BestAvailablePush));
      } else if (event === "unlock") {
        const r = await ctx.seats.unlock({ eventId: join.eventId, userId: conn.userId, seatId: seat!, origin: conn.tag });
        reply("ok", { seat, seq: r.seq, hold_size: r.seatsLeft });
      } else {
        const r = await ctx.seats.extend({ eventId: join.eventId, userId: conn.userId });
        reply("ok", { expires_at: r.deadline, extensions_left: r.extensionsLeft });
      }
    } catch (err) {
      if (err instanceof SeatError)
        reply("error", { reason: err.reason, message: err.message, ...(seat ? { seat } : {}), ...(err.retryAfterMs !== undefined ? { retry_after_ms: err.retryAfterMs } : {}), ...err.extra });
      else if (err instanceof PushFieldError) refuse("malformed_payload", { field: err.field, message: err.message });
      else {
        ctx.logger.error({ err, event, eventId: join.eventId }, "seat push failed");
        reply("error", { reason: "internal_error", message: "the seat service is unavailable; retry" });
      }
    } finally {
      join.inflight?.delete(abort);
    }
  }

  /**
   * For an event with a waiting room, reads the join's pass (signature, this user, this event, not
   * expired) into `join.passUntil`; a join without a valid one still watches. Returns what the reply
   * says of it, nothing for an event without a room, or `malformed` when the pass is not one at all.
   */
  private async checkPass(conn: Conn, join: Join, pass: string | undefined): Promise<{ admitted: boolean; expires_at: number | null } | "malformed" | undefined> {
    const room = await this.ctx.rooms.settings(join.eventId);
    join.room = room !== null;
    join.passUntil = undefined;
    if (!room) return undefined;
    if (pass === undefined || !conn.userId) return { admitted: false, expires_at: null };
    const v = this.ctx.rooms.passes.verify(pass, join.eventId, conn.userId);
    if (!v.ok && v.why === "malformed") return "malformed";
    if (v.ok) join.passUntil = v.expiresAt;
    return { admitted: v.ok, expires_at: v.ok ? v.expiresAt : null };
  }

  leave(conn: Conn, join: Join): void {
    if (!join.live) return;
    join.live = false;
    if (join.changes) {
      const topics = this.ctx.changes.unwatch(join.eventId, join.changes.sections);
      if (!conn.closed && conn.ws) for (const t of topics) conn.ws.unsubscribe(t);
    } else if (!conn.closed && conn.ws) conn.ws.unsubscribe(uwsTopic.phxSeats(join.eventId));
    stopWatching(this.ctx, conn, join.eventId);
  }

  /** Redis lost the event's history: the client rejoins (phx_error makes the stock client do so). */
  resync(conn: Conn, join: Join): void {
    // Pushes still in flight are answered first, on the join the client still has (after
    // phx_error it rejoins with a new ref and would drop their late replies as outdated).
    for (const abort of [...(join.inflight ?? [])]) abort();
    this.leave(conn, join);
    conn.joins.delete(join.topic);
    sendTo(conn, encodePhx(join.joinRef, join.joinRef, join.topic, "phx_error", { reason: "resync" }));
  }

  /** A whole-map snapshot reply, its `seats` taken from the feed's encoding at the view's position (or encoded and kept). */
  private wholeMapReply(feed: EventFeed, join: Join, ref: string | null, view: Extract<SeatView, { mode: "snapshot" }>, userId: string | null, room: unknown): string {
    let map = feed.wholeMap;
    if (!map || map.seq !== view.seq || map.epoch !== view.epoch) {
      const seats: Record<string, string> = {};
      for (const id of view.seatIds ?? []) seats[id] = view.taken.get(id)?.state ?? "available";
      map = feed.wholeMap = { epoch: view.epoch, seq: view.seq, json: JSON.stringify(seats) };
    }
    const hold = view.hold ? { seats: view.hold.seats, expires_at: view.hold.expiresAt, extensions_left: view.hold.extensionsLeft } : null;
    const body: Record<string, unknown> = { mode: "snapshot", seq: view.seq, epoch: view.epoch, user_id: userId, seats: SEATS_SLOT, hold };
    if (room) body.waiting_room = room;
    // The slot is a string no seat map contains; it stands where the encoded seats go.
    return encodeReply(join.joinRef, ref, join.topic, "ok", body).replace(JSON.stringify(SEATS_SLOT), () => map.json);
  }

  /** The reply of a legacy join with `last_seq` that the feed or the log could answer: the missed events. */
  private eventsPayload(view: Extract<SeatView, { mode: "events" }>, userId: string | null): Record<string, unknown> {
    const hold = view.hold ? { seats: view.hold.seats, expires_at: view.hold.expiresAt, extensions_left: view.hold.extensionsLeft } : null;
    return { mode: "events", seq: view.seq, epoch: view.epoch, user_id: userId, events: phxPushesFor(view.events, userId).map(flatten), hold };
  }

  /**
   * The reply of a `changes` join: a snapshot lists only the seats that are not available (a
   * 100,000-seat venue with 500 taken seats answers in a few KB); a catch-up gives the final state
   * of each seat changed since `last_seq`. Both only for the sections named, if any.
   */
  private compactPayload(view: SeatView, userId: string | null, sections: string[] | null, inSections: ((seat: string) => boolean) | undefined): Record<string, unknown> {
    const hold = view.hold ? { seats: view.hold.seats, expires_at: view.hold.expiresAt, extensions_left: view.hold.extensionsLeft } : null;
    const base = { seq: view.seq, epoch: view.epoch, user_id: userId, ...(sections ? { sections } : {}) };
    if (view.mode === "events") return { mode: "changes", ...base, seats: finalStates(view.events, inSections), hold };
    const seats: Record<string, string> = {};
    for (const [id, s] of view.taken) if (!inSections || inSections(id)) seats[id] = s.state;
    return { mode: "snapshot", ...base, seats, hold };
  }
}

/** Stands in a whole-map reply where the pre-encoded `seats` object goes (see wholeMapReply). */
const SEATS_SLOT = "\u0000seats\u0000";
/** A whole-map join reply is charged one token of the socket's bucket per this many bytes. */
const WHOLE_MAP_BYTES_PER_TOKEN = 65_536;

function sectionFilter(sectionOf: ReadonlyMap<string, string>, sections: readonly string[]): (seat: string) => boolean {
  const wanted = new Set(sections);
  return (seat) => {
    const s = sectionOf.get(seat);
    return s !== undefined && wanted.has(s);
  };
}

function flatten(p: WirePush): Record<string, unknown> {
  return { event: p.event, ...p.payload };
}
