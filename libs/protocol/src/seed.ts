/**
 * The legacy seat dialect (dialect value `seed`), verbatim: client frames `{"action":"lock","seat":"A_2_2","authorizationString":"…"}`,
 * server frames `{"event":"lockedForYou","data":"A_2_2"}`. The only place that builds or parses them.
 */
import { SEAT_ID_RE } from "./ids.ts";

export const SEED_ACTIONS = ["lock", "unlock", "reserve", "unreserve", "pay", "revoke"] as const;
export type SeedAction = (typeof SEED_ACTIONS)[number];
export const SEED_BACKEND_ACTIONS: ReadonlySet<SeedAction> = new Set(["reserve", "unreserve", "pay", "revoke"]);

export interface SeedRequest {
  action: SeedAction;
  seat: string;
  authorizationString?: string;
}

export type SeedDecodeResult = { ok: true; req: SeedRequest } | { ok: false; code: "malformed_frame" | "unknown_action" | "invalid_seat"; field: string; message: string };

export function decodeSeed(text: string): SeedDecodeResult {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, code: "malformed_frame", field: "frame", message: "the frame is not valid JSON" };
  }
  if (v === null || typeof v !== "object" || Array.isArray(v))
    return { ok: false, code: "malformed_frame", field: "frame", message: "the frame must be a JSON object" };
  const o = v as Record<string, unknown>;
  if (typeof o.action !== "string" || !(SEED_ACTIONS as readonly string[]).includes(o.action))
    return { ok: false, code: "unknown_action", field: "action", message: `action must be one of ${SEED_ACTIONS.join(", ")}` };
  if (typeof o.seat !== "string" || !SEAT_ID_RE.test(o.seat))
    return { ok: false, code: "invalid_seat", field: "seat", message: "seat must be a seat id such as A_2_2" };
  if (o.authorizationString !== undefined && typeof o.authorizationString !== "string")
    return { ok: false, code: "malformed_frame", field: "authorizationString", message: "authorizationString must be a string" };
  return { ok: true, req: { action: o.action as SeedAction, seat: o.seat, authorizationString: o.authorizationString as string | undefined } };
}

export function encodeSeed(event: string, data: unknown): string {
  return JSON.stringify({ event, data });
}

/** The legacy dialect's event names for each error reason it had; newer reasons travel as `error`. */
export const seedErrorEvents: Readonly<Record<string, string>> = {
  already_locked: "alreadyLocked",
  not_yours: "notYours",
  already_unlocked: "alreadyUnlocked",
  unauthorized: "unauthorized",
};
