import { PHX, encodePhx, encodeReply, encodeSeed, seedErrorEvents } from "@seatdrop/protocol";

/**
 * How a socket's dialect writes what the channel runtime says: replies to joins and pushes, pushes
 * of the server's own, and a channel's end. The runtime and the modules are the same for every
 * dialect; only this differs.
 */
export interface Codec {
  /** The frame answering a join or a push; null when the dialect sends nothing for it. */
  reply(to: { joinRef: string | null; ref: string | null; topic: string }, status: "ok" | "error", body: Record<string, unknown>): string | null;
  push(join: { joinRef: string; topic: string }, event: string, payload: Record<string, unknown>): string | null;
  /** The channel ended from the server's side: `close` (left, revoked, replaced) or `error` (crashed: the client rejoins). */
  ended(join: { joinRef: string; topic: string }, how: "close" | "error", payload: Record<string, unknown>): string | null;
}

/** Phoenix Channels V2 JSON: `[join_ref, ref, topic, event, payload]`. */
export const phoenixCodec = {
  reply: (to: { joinRef: string | null; ref: string | null; topic: string }, status: "ok" | "error", body: Record<string, unknown>): string => encodeReply(to.joinRef, to.ref, to.topic, status, body),
  push: (join: { joinRef: string; topic: string }, event: string, payload: Record<string, unknown>): string => encodePhx(join.joinRef, null, join.topic, event, payload),
  ended: (join: { joinRef: string; topic: string }, how: "close" | "error", payload: Record<string, unknown>): string =>
    encodePhx(join.joinRef, join.joinRef, join.topic, how === "close" ? PHX.close : PHX.error, payload),
} satisfies Codec;

/** The ref the legacy dialect's one seat join is made with: its reply is the `startstate` frame. */
export const SEED_JOIN_REF = "startstate";
const UNAUTHORIZED_TEXT = "You are unauthorized to do this.";

/**
 * The legacy seat dialect (`{"event", "data"}` frames, no refs): one seat join per socket, made on
 * connect, whose reply is `startstate`; a lock's success is told by the fan-out (`lockedForYou`),
 * so an ok reply to a push is nothing; refusals are the dialect's own frames (`alreadyLocked`,
 * `unauthorized`, …) or an `error` frame with `code`, `seat` and `message`. The socket's event
 * comes from `?event=`, so a refusal of the join names that field. A crashed join is restarted by
 * the socket (a fresh `startstate`), not told.
 */
export const seedCodec: Codec = {
  reply: (to, status, body) => {
    const isJoin = to.ref === SEED_JOIN_REF;
    if (status === "ok") return isJoin ? encodeSeed("startstate", body) : null;
    const reason = String(body.reason);
    const event = seedErrorEvents[reason];
    if (event === "unauthorized") return encodeSeed("unauthorized", UNAUTHORIZED_TEXT);
    if (event && typeof body.seat === "string") return encodeSeed(event, body.seat);
    const { reason: _r, field, ...rest } = body;
    return encodeSeed("error", { code: reason, ...(field !== undefined ? { field } : isJoin ? { field: "event" } : {}), ...rest });
  },
  push: (_join, event, payload) => encodeSeed(event, payload),
  ended: () => null,
};
