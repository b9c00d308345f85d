import { finalStates, isUuid, parsePush, phxPushesFor, seatJoinPayload, seatPushPayloads, seatsTopic, uwsTopic, type WirePush } from "@seatdrop/protocol";
import { SeatError } from "@seatdrop/seats";
import type { Conn } from "../conn.ts";
import type { NodeContext } from "../context.ts";
import type { EventFeed } from "../fanout/event-feed.ts";
import { prepareSeatView, type SeatView } from "../fanout/seat-view.ts";
import { startWatching, stopWatching } from "../seat-watch.ts";
import { bestAvailable, type BestAvailablePush } from "./best-available.ts";
import { Refusal, type ChannelModule, type Join, type Joining, type Pushing } from "./channel.ts";
import type { ChannelRuntime } from "./runtime.ts";

/** What a live seat join holds. */
export interface SeatAssigns {
  eventId: string;
  /**
   * Joined with `{"changes": true}`: coalesced `changes` frames instead of per-change events, for
   * the whole event (`sections` null) or the sections named.
   */
  changes?: { sections: string[] | null };
  /**
   * An event with a waiting room: `lock` needs a pass, checked at the join (signature, user, event)
   * and kept as its end (`passUntil`), so each lock checks it without a Redis round trip.
   */
  room: boolean;
  passUntil?: number;
}

/** The socket's live seat join of the event, if any (what the fan-out sends personal frames on). */
export function seatJoin(conn: Conn, eventId: string): Join<SeatAssigns> | undefined {
  const join = conn.joins.get(seatsTopic(eventId)) as Join<SeatAssigns> | undefined;
  return join?.live ? join : undefined;
}

type RoomState = { admitted: boolean; expires_at: number | null } | undefined;

/**
 * `seats:<eventId>`: the live seat map. Join answers with a snapshot (or, with `last_seq`, only the
 * missed events); pushes `lock`, `unlock`, `extend`, `best_available`.
 *
 * With `{"changes": true}` the join's snapshot is compact (taken seats only; the layout
 * comes from `GET /api/events/:id/layout`), a `last_seq` catch-up gives final states, and updates
 * arrive as coalesced `changes` frames, for the whole event or for the `sections` named.
 */
export class SeatChannel implements ChannelModule<SeatAssigns> {
  readonly label = "seats";

  constructor(
    private readonly ctx: NodeContext,
    private readonly runtime: ChannelRuntime,
  ) {}

  /**
   * Redis lost the event's history: every seat join of it crashes (a Phoenix client hears
   * `phx_error` and rejoins from a fresh snapshot). Returns the sockets whose join crashed: the
   * legacy dialect's are restarted by their socket.
   */
  resync(eventId: string): Conn[] {
    const crashed: Conn[] = [];
    for (const conn of [...this.ctx.registry.watchers(eventId)]) {
      const join = seatJoin(conn, eventId);
      if (!join) continue;
      this.runtime.crash(conn, join, "resync");
      crashed.push(conn);
    }
    return crashed;
  }

  async join(j: Joining<SeatAssigns>): Promise<void> {
    const { ctx } = this;
    const eventId = j.subtopic;
    const parsed = parsePush(seatJoinPayload, j.payload);
    if (!parsed.ok) return j.refuse({ ...parsed.error });
    const mode = parsed.value;
    // Event ids are lower-case UUIDs (isUuid refuses other spellings). PostgreSQL would read
    // `seats:ABC…` as the same event, but broadcasts go out on the canonical topic, which such a
    // client would never match.
    if (!isUuid(eventId) || !(await ctx.seats.events.ensureEventLoaded(eventId)))
      return j.refuse({ reason: "unknown_event", message: `no event ${eventId} (event ids are lower-case UUIDs)` });
    if (!j.current()) return;
    const assigns: SeatAssigns = { eventId, room: false };
    const room = await this.checkPass(j.conn, assigns, mode.pass);
    if (room === "malformed") return j.refuse({ reason: "malformed_payload", field: "pass", message: "pass is not a waiting-room pass (use the one the admitted push or the queue join gave)" });
    if (!j.current()) return;
    const legacy = j.conn.dialect === "seed";
    const feed = await ctx.feeds.acquire(eventId);
    // The feed reference is the join's from here: released at leave, or now if the join ends unanswered.
    j.onLeave(() => ctx.feeds.release(eventId));
    try {
      let sectionOf: Map<string, string> | undefined;
      if (mode.sections) {
        sectionOf = await (feed.sectionOf ??= ctx.seats.events.seatSections(eventId).catch((err: unknown) => {
          feed.sectionOf = undefined; // a database hiccup is not remembered: the next join reads again
          throw err;
        }));
        if (!j.current()) return;
        const known = new Set(sectionOf.values());
        const unknown = mode.sections.filter((s) => !known.has(s));
        if (unknown.length > 0)
          return j.refuse({
            reason: "malformed_payload",
            field: "sections",
            message: `unknown section${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => JSON.stringify(u)).join(", ")}; the event's sections are listed by GET /api/events/${eventId}/layout`,
          });
      }
      const inSections = mode.sections && sectionOf ? sectionFilter(sectionOf, mode.sections) : undefined;
      await prepareSeatView({
        seats: ctx.seats,
        feed,
        eventId,
        userId: j.conn.userId,
        lastSeq: mode.lastSeq,
        epoch: mode.epoch,
        // The legacy dialect's `startstate` lists taken seats only: the seat ids are not needed.
        compact: mode.changes || legacy,
        isCurrent: j.current,
        commit: (view) => {
          if (legacy) return this.acceptStartState(j, view, assigns);
          if (mode.changes) {
            assigns.changes = { sections: mode.sections };
            // The streams start at the feed's position, which is where this view ends.
            for (const t of ctx.changes.watch(eventId, mode.sections, feed.lastSeq, sectionOf)) j.subscribe(t);
            j.onLeave(() => ctx.changes.unwatch(eventId, mode.sections));
          } else j.subscribe(uwsTopic.phxSeats(eventId));
          startWatching(ctx, j.conn, eventId);
          j.onLeave(() => stopWatching(ctx, j.conn, eventId));
          if (!mode.changes && view.mode === "snapshot") {
            // The whole map: its `seats` encoded once per (epoch, seq) for every join at that position,
            // and the reply charged to the socket's bucket by its size (a token per whole 64 KiB, so
            // a small venue's map costs only its frame's token).
            const frame = this.wholeMapReply(feed, j, view, room);
            return j.accept({ frame }, assigns, { large: true, chargeTokens: Math.floor(frame.length / WHOLE_MAP_BYTES_PER_TOKEN) });
          }
          const body = mode.changes ? compactPayload(view, j.conn.userId, mode.sections, inSections) : eventsPayload(view as Extract<SeatView, { mode: "events" }>, j.conn.userId);
          if (room) body.waiting_room = room;
          j.accept(body, assigns, { large: true });
        },
      });
    } catch (err) {
      ctx.logger.error({ err, eventId }, "seat join failed");
      if (j.current()) j.refuse({ reason: "internal_error", message: "could not load the seat map; retry" });
    }
  }

  async handle(p: Pushing<SeatAssigns>): Promise<Record<string, unknown>> {
    const { ctx } = this;
    const { conn, event, assigns } = p;
    if (event !== "lock" && event !== "unlock" && event !== "extend" && event !== "best_available")
      throw new Refusal({ reason: "unsupported_event", message: `seats channels accept lock, unlock, extend and best_available, not ${event}` });
    if (!conn.userId) throw new Refusal({ reason: "unauthorized", message: "sign in (connect with a token) to lock seats" });
    const parsed = parsePush(seatPushPayloads[event], p.payload);
    if (!parsed.ok) throw new Refusal({ reason: "malformed_payload", field: parsed.error.field, message: parsed.error.message });
    const seat = "seat" in parsed.value ? parsed.value.seat : undefined;
    // An event with a waiting room sells only to admitted buyers, until their turn ends; a room
    // added while the buyer was joined applies to their next lock (settings are cached per node).
    const locks = event === "lock" || event === "best_available";
    if (locks && !assigns.room) assigns.room = ctx.rooms.hasRoomNow(assigns.eventId) ?? (await ctx.rooms.settings(assigns.eventId)) !== null;
    if (locks && assigns.room && !((assigns.passUntil ?? 0) > Date.now()))
      throw new Refusal({
        reason: "not_admitted",
        seat: seat!,
        message: assigns.passUntil ? "your turn has ended: join the waiting room again" : "this event has a waiting room: join queue:<event> (on the Phoenix socket) and rejoin the seats with the pass you are given",
      });
    const who = { eventId: assigns.eventId, userId: conn.userId };
    try {
      if (event === "lock") {
        const r = await ctx.seats.lock({ ...who, seatId: seat!, origin: conn.tag });
        return { seat, seq: r.seq, expires_at: r.deadline, hold_size: r.holdSize };
      }
      if (event === "best_available") return await bestAvailable(ctx, conn, assigns.eventId, parsed.value as BestAvailablePush);
      if (event === "unlock") {
        const r = await ctx.seats.unlock({ ...who, seatId: seat!, origin: conn.tag });
        return { seat, seq: r.seq, hold_size: r.seatsLeft };
      }
      const r = await ctx.seats.extend(who);
      return { expires_at: r.deadline, extensions_left: r.extensionsLeft };
    } catch (err) {
      if (!(err instanceof SeatError)) throw err;
      throw new Refusal({ reason: err.reason, message: err.message, ...(seat ? { seat } : {}), ...(err.retryAfterMs !== undefined ? { retry_after_ms: err.retryAfterMs } : {}), ...err.extra });
    }
  }

  /**
   * The legacy dialect's join (made on connect): `startstate` lists the taken seats by state, and
   * updates come on the dialect's own topic, encoded once for all its sockets by the fan-out.
   */
  private acceptStartState(j: Joining<SeatAssigns>, view: SeatView, assigns: SeatAssigns): void {
    const data: Record<"reserved" | "paid" | "locked", string[]> = { reserved: [], paid: [], locked: [] };
    if (view.mode === "snapshot") for (const [seat, s] of view.taken) data[s.state].push(seat);
    j.subscribe(uwsTopic.seedSeats(assigns.eventId));
    startWatching(this.ctx, j.conn, assigns.eventId);
    j.onLeave(() => stopWatching(this.ctx, j.conn, assigns.eventId));
    // A sold-out venue's start state lists every seat: it may drain above WS_MAX_BACKPRESSURE.
    j.accept(data, assigns, { large: true });
  }

  readonly crashMessage = "the seat map was resynchronised while this push was in flight; it may have taken effect: rejoin, check your hold, retry";

  echo(payload: Record<string, unknown>): Record<string, unknown> {
    return typeof payload.seat === "string" ? { seat: payload.seat } : {};
  }

  /**
   * For an event with a waiting room, reads the join's pass (signature, this user, this event, not
   * expired) into `passUntil`; a join without a valid one still watches. Returns what the reply
   * says of it, nothing for an event without a room, or `malformed` when the pass is not one at all.
   */
  private async checkPass(conn: Conn, assigns: SeatAssigns, pass: string | undefined): Promise<RoomState | "malformed"> {
    const room = await this.ctx.rooms.settings(assigns.eventId);
    assigns.room = room !== null;
    if (!room) return undefined;
    if (pass === undefined || !conn.userId) return { admitted: false, expires_at: null };
    const v = this.ctx.rooms.passes.verify(pass, assigns.eventId, conn.userId);
    if (!v.ok && v.why === "malformed") return "malformed";
    if (v.ok) assigns.passUntil = v.expiresAt;
    return { admitted: v.ok, expires_at: v.ok ? v.expiresAt : null };
  }

  /** A whole-map snapshot reply, its `seats` taken from the feed's encoding at the view's position (or encoded and kept). */
  private wholeMapReply(feed: EventFeed, j: Joining<SeatAssigns>, view: Extract<SeatView, { mode: "snapshot" }>, room: RoomState): string {
    let map = feed.wholeMap;
    if (!map || map.seq !== view.seq || map.epoch !== view.epoch) {
      const seats: Record<string, string> = {};
      for (const id of view.seatIds ?? []) seats[id] = view.taken.get(id)?.state ?? "available";
      map = feed.wholeMap = { epoch: view.epoch, seq: view.seq, json: JSON.stringify(seats) };
    }
    const body: Record<string, unknown> = { mode: "snapshot", seq: view.seq, epoch: view.epoch, user_id: j.conn.userId, seats: SEATS_SLOT, hold: holdOf(view) };
    if (room) body.waiting_room = room;
    // The slot is a string no seat map contains; it stands where the encoded seats go.
    return j.encode(body).replace(JSON.stringify(SEATS_SLOT), () => map.json);
  }
}

/** Stands in a whole-map reply where the pre-encoded `seats` object goes (see wholeMapReply). */
const SEATS_SLOT = "\u0000seats\u0000";
/** A whole-map join reply is charged one token of the socket's bucket per this many bytes. */
const WHOLE_MAP_BYTES_PER_TOKEN = 65_536;

function holdOf(view: SeatView): Record<string, unknown> | null {
  return view.hold ? { seats: view.hold.seats, expires_at: view.hold.expiresAt, extensions_left: view.hold.extensionsLeft } : null;
}

/** The reply of a legacy join with `last_seq` that the feed or the log could answer: the missed events. */
function eventsPayload(view: Extract<SeatView, { mode: "events" }>, userId: string | null): Record<string, unknown> {
  return { mode: "events", seq: view.seq, epoch: view.epoch, user_id: userId, events: phxPushesFor(view.events, userId).map(flatten), hold: holdOf(view) };
}

/**
 * The reply of a `changes` join: a snapshot lists only the seats that are not available (a
 * 100,000-seat venue with 500 taken seats answers in a few KB); a catch-up gives the final state
 * of each seat changed since `last_seq`. Both only for the sections named, if any.
 */
function compactPayload(view: SeatView, userId: string | null, sections: string[] | null, inSections: ((seat: string) => boolean) | undefined): Record<string, unknown> {
  const base = { seq: view.seq, epoch: view.epoch, user_id: userId, ...(sections ? { sections } : {}) };
  if (view.mode === "events") return { mode: "changes", ...base, seats: finalStates(view.events, inSections), hold: holdOf(view) };
  const seats: Record<string, string> = {};
  for (const [id, s] of view.taken) if (!inSections || inSections(id)) seats[id] = s.state;
  return { mode: "snapshot", ...base, seats, hold: holdOf(view) };
}

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
