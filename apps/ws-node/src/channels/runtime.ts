import { RateLimitedError } from "@seatdrop/limits";
import { joinRefusal, metrics } from "@seatdrop/observability";
import { parseTopic } from "@seatdrop/protocol";
import { sendJoinReply, sendTo, type Conn } from "../conn.ts";
import type { NodeContext } from "../context.ts";
import { FRAME_ERROR_REASONS, Refusal, type ChannelKind, type ChannelModule, type Join, type Joining } from "./channel.ts";
import type { Codec } from "./codec.ts";

/** What a join refused for the in-flight cap suggests waiting: about one join's round trip. */
const JOIN_IN_FLIGHT_RETRY_MS = 250;

/** Where a reply goes: the join it answers and the ref of the frame. */
interface To {
  joinRef: string | null;
  ref: string | null;
  topic: string;
}

/**
 * The channel runtime, after Phoenix's channel server: it owns everything a topic family does not
 * decide. Joins are registered on the socket before any await (so joins and leaves of one topic take
 * effect in the order sent), capped in flight, answered exactly once in the socket's codec, and
 * torn down in one place on leave, rejoin, close or crash: subscriptions dropped, cleanups run,
 * pushes in flight answered. A module (`ChannelModule`) only says what its topic means.
 */
export class ChannelRuntime {
  private modules = {} as Record<ChannelKind, ChannelModule<any>>;

  constructor(
    private readonly ctx: NodeContext,
    private readonly codecs: Record<Conn["dialect"], Codec>,
  ) {}

  /** The module serving each topic family (they are built on the runtime, so they come after it). */
  register(modules: Record<ChannelKind, ChannelModule<any>>): void {
    this.modules = modules;
  }

  /**
   * A join frame: answered with the module's reply or an error naming the reason. Resolves to null
   * once joined, else to the reason it was not (`stale` when a newer join or a leave overtook it).
   */
  async join(conn: Conn, to: To, payload: Record<string, unknown>): Promise<string | null> {
    const codec = this.codecs[conn.dialect];
    const parsed = parseTopic(to.topic);
    const module = parsed ? this.modules[parsed.kind] : undefined;
    if (!parsed || !module || to.joinRef === null) {
      metrics.wsFrameErrors.inc({ reason: "unmatched_topic" });
      send(conn, codec.reply(to, "error", { reason: "unmatched topic" }));
      return "unmatched topic";
    }
    // Joins waiting for their reply are capped per socket: each costs Redis and PostgreSQL work.
    const cap = this.ctx.config.WS_JOINS_IN_FLIGHT;
    if (conn.joinsInFlight >= cap) {
      metrics.wsFrameErrors.inc({ reason: "rate_limited" });
      send(conn, codec.reply(to, "error", rateLimited(JOIN_IN_FLIGHT_RETRY_MS, `at most ${cap} joins may wait for their reply`)));
      return "rate_limited";
    }
    conn.joinsInFlight++;
    try {
      return await this.run(conn, module, { ...to, joinRef: to.joinRef }, parsed.kind, "userId" in parsed ? parsed.userId : parsed.eventId, payload);
    } finally {
      conn.joinsInFlight--;
    }
  }

  private async run(conn: Conn, module: ChannelModule<unknown>, to: To & { joinRef: string }, kind: ChannelKind, subtopic: string, payload: Record<string, unknown>): Promise<string | null> {
    const codec = this.codecs[conn.dialect];
    const old = conn.joins.get(to.topic);
    // A second join of a joined topic closes the old one first, as Phoenix does.
    if (old) this.close(conn, old);
    const join: Join = { topic: to.topic, kind, subtopic, joinRef: to.joinRef, live: false, assigns: undefined, topics: new Set(), cleanups: [], inflight: new Set() };
    conn.joins.set(to.topic, join);
    let answered = false;
    let outcome: string | null = "stale";
    const current = () => !conn.closed && conn.joins.get(to.topic) === join;
    const j: Joining<unknown> = {
      conn,
      join,
      subtopic,
      payload,
      current,
      subscribe: (t) => {
        if (!current()) return;
        conn.ws!.subscribe(t);
        join.topics.add(t);
      },
      onLeave: (release) => (ended.has(join) ? release() : void join.cleanups.push(release)),
      encode: (body) => codec.reply(to, "ok", body) ?? "",
      push: (frame) => void sendTo(conn, frame),
      accept: (reply, assigns, opts) => {
        if (answered || !current()) throw new Error(`${to.topic}: accept on a join already answered or stale`);
        answered = true;
        outcome = null;
        join.assigns = assigns;
        join.live = true;
        if (opts?.chargeTokens) conn.bucket.charge(opts.chargeTokens);
        const frame = "frame" in reply && typeof reply.frame === "string" ? reply.frame : codec.reply(to, "ok", reply);
        // A snapshot may alone be larger than WS_MAX_BACKPRESSURE: it may drain above the bound.
        if (frame !== null && opts?.large) sendJoinReply(conn, frame);
        else send(conn, frame);
      },
      refuse: (response) => {
        if (answered) return;
        answered = true;
        outcome = String(response.reason);
        metrics.joinsRefused.inc({ channel: module.label, reason: joinRefusal(response.reason) });
        this.forget(conn, join);
        send(conn, codec.reply(to, "error", response));
      },
    };
    try {
      await this.admit(conn, kind, payload, j);
      if (!answered) await module.join(j);
    } catch (err) {
      if (!answered) {
        answered = true;
        outcome = "internal_error";
        this.ctx.logger.error({ err, topic: to.topic }, "channel join failed");
        this.forget(conn, join);
        send(conn, codec.reply(to, "error", { reason: "internal_error", message: "temporary failure; retry" }));
      }
    } finally {
      // A join that went stale ends here, silently: what it took is released. A current one left
      // unanswered is a module's bug; the client still gets an answer.
      if (!answered && current()) {
        outcome = "internal_error";
        this.ctx.logger.error({ topic: to.topic }, "channel join returned without an answer");
        send(conn, codec.reply(to, "error", { reason: "internal_error", message: "temporary failure; retry" }));
      }
      if (!answered) this.forget(conn, join);
    }
    return outcome;
  }

  /**
   * Limits a join pays before its module runs: a chat join naming a ticket number is a claim,
   * counted per user and per address across the cluster, so numbers cannot be guessed at speed.
   */
  private async admit(conn: Conn, kind: ChannelKind, payload: Record<string, unknown>, j: Joining<unknown>): Promise<void> {
    if (kind !== "event" || payload.ticket_number === undefined || !conn.userId) return;
    try {
      await this.ctx.limits.consume("ticket_claim", { ip: conn.ip, user: conn.userId });
    } catch (err) {
      if (!(err instanceof RateLimitedError)) throw err;
      metrics.wsFrameErrors.inc({ reason: "rate_limited" });
      j.refuse(rateLimited(err.retryAfterMs, "too many ticket claims; retry later"));
    }
  }

  /** A push to a joined topic: answered with the module's reply, a refusal, or `internal_error`. */
  push(conn: Conn, to: To, event: string, payload: Record<string, unknown>): Promise<void> | undefined {
    const join = conn.joins.get(to.topic);
    if (!join || !join.live || join.joinRef !== to.joinRef) {
      metrics.wsFrameErrors.inc({ reason: "not_joined" });
      send(conn, this.codecs[conn.dialect].reply(to, "error", { reason: "not_joined", message: `join ${to.topic} before pushing to it` }));
      return undefined;
    }
    // One object per push, kept in the join's in-flight set (a lock is the hottest path there is:
    // no async frame and no closures beyond the two the promise needs).
    const flight = new Flight(this.ctx, this.modules[join.kind]!, this.codecs[conn.dialect], conn, to, join, payload, event);
    join.inflight.add(flight);
    return flight.module.handle({ conn, join, assigns: join.assigns, event, payload }).then(
      (body) => flight.answer("ok", body),
      (err: unknown) => flight.failed(err),
    );
  }

  /** A leave frame: the join ends, answered ok and then closed. */
  leave(conn: Conn, to: To): void {
    const codec = this.codecs[conn.dialect];
    const join = conn.joins.get(to.topic);
    if (join) this.forget(conn, join);
    send(conn, codec.reply(to, "ok", {}));
    send(conn, codec.ended({ topic: to.topic, joinRef: to.joinRef ?? "" }, "close", {}));
  }

  /**
   * The server ends a join (a second join of the topic, a revoked ticket): `before` (a push saying
   * why) is sent first, then the close; the stock client does not rejoin.
   */
  close(conn: Conn, join: Join, before?: { event: string; payload: Record<string, unknown> }): void {
    const codec = this.codecs[conn.dialect];
    this.forget(conn, join);
    if (before) send(conn, codec.push(join, before.event, before.payload));
    send(conn, codec.ended(join, "close", {}));
  }

  /**
   * The join's stream broke (Redis lost an event's history, a chat room's order): pushes in flight
   * are answered first, on the join the client still has (after `phx_error` it rejoins with a new
   * ref and would drop their late replies as outdated), then the join ends with `phx_error`, which
   * makes the stock client rejoin.
   */
  crash(conn: Conn, join: Join, reason: string): void {
    const codec = this.codecs[conn.dialect];
    for (const flight of [...join.inflight]) flight.abort(reason);
    this.forget(conn, join);
    send(conn, codec.ended(join, "error", { reason }));
  }

  /** The socket closed: every join is released without touching the socket. */
  closed(conn: Conn): void {
    for (const join of [...conn.joins.values()]) this.forget(conn, join);
  }

  /** The live join of `topic` on the socket, if any. */
  joined(conn: Conn, topic: string): Join | undefined {
    const join = conn.joins.get(topic);
    return join?.live ? join : undefined;
  }

  /** Ends a join: off the socket's map, unsubscribed, its cleanups run (once). */
  private forget(conn: Conn, join: Join): void {
    if (conn.joins.get(join.topic) === join) conn.joins.delete(join.topic);
    if (ended.has(join)) return;
    ended.add(join);
    join.live = false;
    // A join is forgotten before a newer join of its topic registers, and a stale join cannot
    // subscribe (`subscribe` checks it is current), so these topics are this join's alone.
    if (!conn.closed && conn.ws) for (const t of join.topics) conn.ws.unsubscribe(t);
    join.topics.clear();
    // Last taken, first released, as with `defer`.
    for (const release of join.cleanups.splice(0).reverse()) {
      try {
        release();
      } catch (err) {
        this.ctx.logger.error({ err, topic: join.topic }, "channel cleanup failed");
      }
    }
  }
}

/** Sends a codec's frame; a dialect with nothing to say (the legacy dialect's ok to a lock) gives null. */
function send(conn: Conn, frame: string | null): void {
  if (frame !== null) sendTo(conn, frame);
}

/** Joins that have ended: their cleanups ran, and a late `onLeave` runs at once. */
const ended = new WeakSet<Join>();

/** The `rate_limited` reply: how long to wait, in milliseconds, beside the reason. */
export function rateLimited(retryAfterMs: number, message: string): Record<string, unknown> {
  return { reason: "rate_limited", message, retry_after_ms: retryAfterMs };
}

/** A push being answered: the module's answer, a failure, or a crash's abort, whichever comes first. */
class Flight {
  private answered = false;

  constructor(
    private readonly ctx: NodeContext,
    readonly module: ChannelModule<unknown>,
    private readonly codec: Codec,
    private readonly conn: Conn,
    private readonly to: To,
    private readonly join: Join,
    private readonly payload: Record<string, unknown>,
    private readonly event: string,
  ) {}

  answer(status: "ok" | "error", body: Record<string, unknown>): void {
    if (this.answered) return;
    this.answered = true;
    this.join.inflight.delete(this);
    if (status === "error" && FRAME_ERROR_REASONS.has(String(body.reason))) metrics.wsFrameErrors.inc({ reason: String(body.reason) });
    if (this.conn.joins.get(this.to.topic) === this.join) send(this.conn, this.codec.reply(this.to, status, body));
  }

  failed(err: unknown): void {
    if (err instanceof Refusal) return this.answer("error", err.response);
    this.ctx.logger.error({ err, topic: this.to.topic, event: this.event }, "channel push failed");
    this.answer("error", { reason: "internal_error", message: "temporary failure; retry", ...this.module.echo?.(this.payload) });
  }

  /** The join crashed: answered on the join the client still has, before its `phx_error`. */
  abort(reason: string): void {
    if (this.answered) return;
    this.answered = true;
    this.join.inflight.delete(this);
    const message = this.module.crashMessage ?? "the channel restarted while this push was in flight; retry";
    send(this.conn, this.codec.reply(this.to, "error", { reason, retryable: true, message, ...this.module.echo?.(this.payload) }));
  }
}
