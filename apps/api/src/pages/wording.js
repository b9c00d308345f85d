// Plain words for every code the cluster answers the page with: seat refusals (libs/seats
// errors.ts), the channels' own reasons, the waiting room's, the chat's, the order API's `error`
// codes, and why a hold was released. The one place the page turns a code into a sentence;
// apps/api/test/page-wording.test.ts checks that every code the server defines has words here.

/** "in 12 s" from a reply's retry_after_ms, or "in a moment" without one. */
function inSeconds(e) {
  const ms = Number(e?.retry_after_ms);
  if (!Number.isFinite(ms) || ms <= 0) return "in a moment";
  const s = Math.ceil(ms / 1000);
  return s >= 120 ? `in ${Math.ceil(s / 60)} minutes` : `in ${s} s`;
}

/** Each code's sentence; a function where the reply carries more (seconds, a limit). */
export const REASON_WORDS = Object.freeze({
  // Seats (the seat scripts' refusals)
  unknown_event: "This event does not exist, or is not open for seat selection.",
  unknown_seat: "That seat is not on this event's map.",
  already_locked: "Someone else just took that seat.",
  not_yours: "That seat is held by someone else.",
  already_unlocked: "That seat was not held.",
  seat_unavailable: "That seat is already sold or reserved.",
  hold_limit: "Your hold already has the most seats allowed for this event.",
  no_hold: "You have no seats held for this event (your hold may have run out).",
  extend_limit: "Your hold cannot be extended any more.",
  already_reserved: "That seat is already reserved.",
  not_reserved: "That seat is not reserved.",
  already_paid: "That seat is already paid for.",
  not_in_hold: "That seat is not in your hold any more (your hold may have run out).",
  user_limit: "You already have the most seats one buyer may have for this event.",
  sales_not_open: "Sales for this event have not opened yet.",
  sales_closed: "Sales for this event are closed.",
  wrong_order: "That seat belongs to another order.",
  relock_cooldown: (e) => `You let this seat go a moment ago; you can take it again ${inSeconds(e)}.`,
  sales_paused: "Sales are paused by the box office. Your hold is kept; try again when they reopen.",
  seat_offered: (e) => `This seat just came free and is offered to the next person in the waiting room; it returns to the map ${inSeconds(e)} if they pass.`,
  no_block: (e) => (Array.isArray(e?.split) && e.split.length > 0 ? `No ${e.count ?? ""} seats together are free like that; the best we have is split over ${e.split.length} rows.` : "Not that many seats together are free like that; try fewer seats or another section.").replace("No  seats", "No seats"),
  hold_budget: (e) => `You have held seats for as long as a hold and its extensions allow; you can hold seats again ${inSeconds(e)}.`,
  // The channels
  not_admitted: "This event has a waiting room: wait for your turn there before choosing seats.",
  unauthorized: "Sign in first.",
  rate_limited: (e) => `Too many requests at once; try again ${inSeconds(e)}.`,
  malformed_payload: (e) => `The request was not understood${e?.field ? ` (${e.field})` : ""}; reload the page.`,
  internal_error: "Something went wrong on our side; try again.",
  resync: "The seat map was refreshed while you clicked; check your hold and try again.",
  not_joined: "Still connecting to the seat map; try again in a moment.",
  unsupported_event: "That action is not available here; reload the page.",
  "unmatched topic": "That seat map does not exist; reload the page.",
  // The waiting room
  no_waiting_room: "This event has no waiting room: the seat map is open.",
  pow_required: "Checking your browser before giving you a place…",
  pow_invalid: "Checking your browser before giving you a place…",
  // Chat
  invalid_ticket: "That ticket number is not valid for this event.",
  ticket_claimed: "That ticket is already used by someone else.",
  ticket_void: "Your ticket for this event is no longer valid.",
  chat_inactive: "The chat room is not open yet.",
  empty_content: "Write something first.",
  content_too_long: (e) => `That message is too long${e?.max ? ` (at most ${e.max} characters)` : ""}.`,
  invalid_content: "That message cannot be sent.",
  // The order API (`error` codes)
  forbidden: "That is not yours.",
  not_found: "Not found (it may have been removed).",
  order_not_paid: "That order is not paid.",
  order_not_pending: "That order can no longer be changed.",
  seat_sold: "One of those seats was sold meanwhile.",
  validation_failed: (e) => `Please check ${e?.field ?? "the form"}.`,
  database_unavailable: "We cannot take orders this very moment; nothing was charged. Try again shortly.",
  order_outcome_unknown: "We could not confirm your order: check My orders before trying again.",
  redis_unavailable: "The seat service is briefly unavailable; try again shortly.",
  invalid_token: "Your session ended: sign in again.",
  token_expired: "Your session ended: sign in again.",
  token_revoked: "You were signed out (elsewhere, or your password changed): sign in again.",
});

/** Why a hold left its owner (`deleted` frames), as the end of "Your hold …". */
export const RELEASE_WORDS = Object.freeze({
  expired: "ran out of time",
  abandoned: "was released because you left the page",
  released_by_admin: "was released by the box office",
  revoked: "was released by the box office",
});

/**
 * A refusal in words: `e` is an error reply (`{reason, message, retry_after_ms, field, …}`) or an
 * API error body (`{error, message}`). An unknown code falls back to the server's own message.
 */
export function explain(e) {
  const code = e?.reason ?? e?.error ?? e?.code;
  const words = REASON_WORDS[code];
  if (typeof words === "function") return words(e);
  if (words) return words;
  return e?.message ? String(e.message) : "That did not work; try again.";
}

/** "Your hold ran out of time." */
export function released(reason) {
  return `Your hold ${RELEASE_WORDS[reason] ?? "was released"}.`;
}
