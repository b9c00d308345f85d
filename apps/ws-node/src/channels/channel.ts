import type { Conn } from "../conn.ts";

/** The topic families a socket can join: `seats:<event>`, `event:<event>` (chat), `user:<user>`, `queue:<event>`. */
export type ChannelKind = "seats" | "event" | "user" | "queue";

/**
 * One joined (or joining) topic of one socket: the runtime's record. A channel module keeps its own
 * state in `assigns` (set when it accepts the join); the runtime keeps what it must undo at leave.
 */
export interface Join<A = unknown> {
  readonly topic: string;
  readonly kind: ChannelKind;
  /** What the topic names after its colon: an event id, or for `user:` topics a user id. */
  readonly subtopic: string;
  readonly joinRef: string;
  /** False while the join is still being answered; false again once it left. */
  live: boolean;
  /** The module's state for this join, from `accept` on. */
  assigns: A | undefined;
  /** uWS topics subscribed for this join: unsubscribed at leave. */
  readonly topics: Set<string>;
  /** What the join took (a feed reference, a presence entry, …): released once, at leave, last first. */
  readonly cleanups: (() => void)[];
  /** Pushes being answered: a crash answers each before the join's `phx_error` (see `ChannelRuntime.crash`). */
  readonly inflight: Set<{ abort(reason: string): void }>;
}

/**
 * What a module's `join` works with. It ends by calling `accept` or `refuse` exactly once while the
 * join is current, or returns without either once `current()` is false (a newer join or a leave of
 * the topic, or the socket closed, made it stale: then nothing is sent).
 *
 * `accept` is a call, not a return value, because it must run in the same synchronous step as the
 * read it answers with: a seat snapshot or a chat history is consistent with the feed's position
 * only until the next frame is delivered, and a return resumes the runtime in a later microtask,
 * after which a feed's gap fill may already have delivered frames the joiner would miss.
 */
export interface Joining<A> {
  readonly conn: Conn;
  readonly join: Join<A>;
  /** The subject of the topic: an event id, or the user id of `user:` topics. */
  readonly subtopic: string;
  readonly payload: Record<string, unknown>;
  current(): boolean;
  /** Subscribes the socket to a uWS topic for as long as the join lives. */
  subscribe(uwsTopic: string): void;
  /** Registers what to release at leave; run at once if the join has already ended. */
  onLeave(release: () => void): void;
  /**
   * Answers ok with `reply` and makes the join live with `assigns`. `reply` may be a frame already
   * encoded (a whole seat map): `encode` gives the envelope for a body. `large` lets a reply above
   * WS_MAX_BACKPRESSURE drain (conn.ts, sendJoinReply); `chargeTokens` charges the socket's bucket.
   */
  accept(reply: Record<string, unknown> | { frame: string }, assigns: A, opts?: { large?: boolean; chargeTokens?: number }): void;
  /** Answers the join with an error; counted as a refused join. */
  refuse(response: Record<string, unknown>, opts?: { large?: boolean }): void;
  /** The reply envelope for `body` (an ok reply), for a module that encodes its reply itself. */
  encode(body: Record<string, unknown>): string;
  /** A push to this join's topic (after its reply: frames the joiner missed while it loaded). */
  push(frame: string): void;
}

/** What a module's `handle` works with. */
export interface Pushing<A> {
  readonly conn: Conn;
  readonly join: Join<A>;
  readonly assigns: A;
  readonly event: string;
  readonly payload: Record<string, unknown>;
}

/**
 * A topic family. The runtime owns registration, refs, the reply envelope, rate limits on frames,
 * subscriptions and teardown on leave, close or crash; a module owns what its topic means.
 */
export interface ChannelModule<A> {
  /** The `channel` label of `sdc_joins_refused_total`. */
  readonly label: "seats" | "chat" | "user" | "queue";
  join(j: Joining<A>): Promise<void>;
  /** Answers a push: resolves to the ok reply's body, or throws a `Refusal` for an error reply. */
  handle(p: Pushing<A>): Promise<Record<string, unknown>>;
  /** What a push in flight is told when its join crashes (a seat map's resync). */
  readonly crashMessage?: string;
  /**
   * Fields of a push echoed in every error reply the runtime makes for it (a crash, an internal
   * error): the seat a lock named, which is how a client of the legacy dialect (no refs) knows
   * which action failed.
   */
  echo?(payload: Record<string, unknown>): Record<string, unknown>;
}

/**
 * An error reply to a push, thrown by a module's `handle`: `response` is the reply's body
 * (`reason`, and `field`, `message`, … as the protocol documents). Protocol-level reasons
 * (FRAME_ERROR_REASONS) also count in `sdc_ws_frame_errors_total`. Not an Error: a refusal is an
 * answer, not a fault, and a drop refuses thousands a second (an Error's stack trace is the
 * costliest part of throwing one).
 */
export class Refusal {
  constructor(readonly response: Record<string, unknown> & { reason: string }) {}
}

/** Refusals that say the frame itself was wrong (rather than the domain refusing it): counted as frame errors. */
export const FRAME_ERROR_REASONS: ReadonlySet<string> = new Set(["unsupported_event", "unauthorized", "malformed_payload", "not_admitted", "not_joined"]);
