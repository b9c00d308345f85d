import { PHX, encodePhx, encodeReply } from "@seatdrop/protocol";

/**
 * How a socket's dialect writes what the channel runtime says: replies to joins and pushes, pushes
 * of the server's own, and a channel's end. The runtime and the modules are the same for every
 * dialect; only this differs.
 */
export interface Codec {
  reply(to: { joinRef: string | null; ref: string | null; topic: string }, status: "ok" | "error", body: Record<string, unknown>): string;
  push(join: { joinRef: string; topic: string }, event: string, payload: Record<string, unknown>): string;
  /** The channel ended from the server's side: `close` (left, revoked, replaced) or `error` (crashed: the client rejoins). */
  ended(join: { joinRef: string; topic: string }, how: "close" | "error", payload: Record<string, unknown>): string;
}

/** Phoenix Channels V2 JSON: `[join_ref, ref, topic, event, payload]`. */
export const phoenixCodec: Codec = {
  reply: (to, status, body) => encodeReply(to.joinRef, to.ref, to.topic, status, body),
  push: (join, event, payload) => encodePhx(join.joinRef, null, join.topic, event, payload),
  ended: (join, how, payload) => encodePhx(join.joinRef, join.joinRef, join.topic, how === "close" ? PHX.close : PHX.error, payload),
};
