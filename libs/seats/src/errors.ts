/**
 * The one list of seat error codes. The numbers are what the Lua scripts return (`E` in
 * lua/includes/seatLib.lua); the strings are what clients see in replies (`reason`).
 */
export const SeatErrorCode = {
  unknown_event: -1,
  unknown_seat: -2,
  already_locked: -3,
  not_yours: -4,
  already_unlocked: -5,
  seat_unavailable: -6,
  hold_limit: -7,
  no_hold: -8,
  extend_limit: -9,
  already_reserved: -10,
  not_reserved: -11,
  already_paid: -12,
  not_in_hold: -13,
  user_limit: -14,
  sales_not_open: -15,
  sales_closed: -16,
  wrong_order: -17,
  relock_cooldown: -18,
  sales_paused: -19,
  seat_offered: -20,
  hold_budget: -21,
  no_block: -22,
} as const;

export type SeatErrorReason = keyof typeof SeatErrorCode;

const byNumber = new Map<number, SeatErrorReason>(
  Object.entries(SeatErrorCode).map(([k, v]) => [v, k as SeatErrorReason]),
);

/** Human sentences for each reason, used in error replies next to the machine-readable code. */
export const seatErrorMessages: Record<SeatErrorReason, string> = {
  unknown_event: "no such event (or it is not open for seat selection)",
  unknown_seat: "no such seat in this event's seat map",
  already_locked: "the seat is already locked",
  not_yours: "the seat is held by someone else",
  already_unlocked: "the seat is not locked",
  seat_unavailable: "the seat is reserved or sold",
  hold_limit: "your hold already has the most seats allowed for this event",
  no_hold: "you have no hold on this event",
  extend_limit: "your hold cannot be extended any more",
  already_reserved: "the seat is already reserved",
  not_reserved: "the seat is neither reserved nor paid",
  already_paid: "the seat is already paid",
  not_in_hold: "the seat is not in your hold (it was never locked by you, or your hold expired)",
  user_limit: "you already have the most seats one buyer may have for this event",
  sales_not_open: "sales for this event have not opened yet",
  sales_closed: "sales for this event are closed",
  wrong_order: "the seat belongs to another order",
  relock_cooldown: "you let this seat go a moment ago (unlocked, or your hold ran out); you may lock it again after the wait given",
  sales_paused: "sales for this event are paused by the box office; holds are kept, try again later",
  seat_offered: "the seat just came free and is offered to the next buyer of the waiting room; it returns to the map after the wait given",
  hold_budget: "you have held seats of this event for as long as a hold and its extensions allow; you may hold seats again after the wait given",
  no_block: "no block of that many adjacent free seats in one row matches (see split, when given, for the seats over a few rows)",
};

/** A seat operation the scripts refused; `reason` is the wire code. */
export class SeatError extends Error {
  override name = "SeatError";
  constructor(
    readonly reason: SeatErrorReason,
    /** The seat the refusal is about, when the script named one. */
    readonly seat?: string,
    /** For `relock_cooldown`, `seat_offered` and `hold_budget`: how long until the caller may try again. */
    readonly retryAfterMs?: number,
    /** More fields for the client's reply (best-available's `split` offer). */
    readonly extra?: Record<string, unknown>,
  ) {
    super(withWait(seatErrorMessages[reason], retryAfterMs));
  }
}

/** "… after the wait given" becomes "… in 4 s" when the refusal carries the wait (`retry_after_ms` beside it). */
function withWait(message: string, retryAfterMs: number | undefined): string {
  const tail = "after the wait given";
  if (retryAfterMs === undefined || !message.endsWith(tail)) return message;
  return `${message.slice(0, -tail.length)}in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s`;
}

/** Turns a script's negative return code into its typed error. */
export function seatErrorFromCode(code: number, seat?: string, retryAfterMs?: number): SeatError {
  const reason = byNumber.get(code);
  if (!reason) throw new Error(`seat script returned unknown code ${code}`);
  return new SeatError(reason, seat, retryAfterMs);
}
