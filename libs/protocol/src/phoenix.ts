/**
 * Phoenix Channels V2 JSON serializer (`vsn=2.0.0`): frames are `[join_ref, ref, topic, event, payload]`.
 * The only place that builds or parses Phoenix frames (see ../../../../shared/FIELD-NOTES.md).
 */
export type PhxFrame = [joinRef: string | null, ref: string | null, topic: string, event: string, payload: Record<string, unknown>];

export const PHX = {
  join: "phx_join",
  leave: "phx_leave",
  reply: "phx_reply",
  close: "phx_close",
  error: "phx_error",
  heartbeat: "heartbeat",
  heartbeatTopic: "phoenix",
  presenceState: "presence_state",
  presenceDiff: "presence_diff",
} as const;

export type DecodeResult =
  | { ok: true; frame: PhxFrame }
  | { ok: false; reason: string; field?: string; joinRef?: string | null; ref?: string | null; topic?: string };

const MAX_TOPIC = 200;
const MAX_EVENT = 64;

function refOf(v: unknown): string | null | undefined {
  if (v === null) return null;
  if (typeof v === "string" && v.length <= 32) return v;
  if (typeof v === "number" && Number.isSafeInteger(v)) return String(v);
  return undefined;
}

/**
 * Parses one text frame. A frame that is not a JSON array of five is `malformed_frame` (no ref to
 * answer, so the socket closes); a well-formed array with a bad element names the element, and
 * carries the ref so the caller can answer with an error reply.
 */
export function decodePhx(text: string): DecodeResult {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, reason: "malformed_frame", field: "frame" };
  }
  if (!Array.isArray(v) || v.length !== 5) return { ok: false, reason: "malformed_frame", field: "frame" };
  const [jr, r, topic, event, payload] = v as unknown[];
  const joinRef = refOf(jr);
  const ref = refOf(r);
  if (joinRef === undefined) return { ok: false, reason: "malformed_frame", field: "join_ref" };
  if (ref === undefined) return { ok: false, reason: "malformed_frame", field: "ref" };
  if (typeof topic !== "string" || topic.length === 0 || topic.length > MAX_TOPIC)
    return { ok: false, reason: "malformed_frame", field: "topic", joinRef, ref, topic: "" };
  if (typeof event !== "string" || event.length === 0 || event.length > MAX_EVENT)
    return { ok: false, reason: "malformed_frame", field: "event", joinRef, ref, topic };
  if (payload === null || typeof payload !== "object" || Array.isArray(payload))
    return { ok: false, reason: "malformed_payload", field: "payload", joinRef, ref, topic };
  return { ok: true, frame: [joinRef, ref, topic, event, payload as Record<string, unknown>] };
}

export function encodePhx(joinRef: string | null, ref: string | null, topic: string, event: string, payload: unknown): string {
  return JSON.stringify([joinRef, ref, topic, event, payload]);
}

export function encodeReply(
  joinRef: string | null,
  ref: string | null,
  topic: string,
  status: "ok" | "error",
  response: Record<string, unknown> = {},
): string {
  return encodePhx(joinRef, ref, topic, PHX.reply, { status, response });
}
