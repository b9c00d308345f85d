/** A seat transition as the scripts log and publish it (lua/includes/seatLib.lua `emit`). */
export type SeatEventType = "locked" | "unlocked" | "reserved" | "unreserved" | "paid" | "unpaid";

export interface SeatEvent {
  seq: number;
  t: SeatEventType;
  seat: string;
  /** The hold's user, for lock transitions. */
  u?: string;
  /** Why a seat left a hold or a sale: `unlocked`, `expired`, `abandoned`, `revoked`. */
  why?: string;
}

/** One publish on an event's channel: the events of one script run, in order. */
export interface SeatMessage {
  ev: SeatEvent[];
  /** `<nodeId>:<connId>` of the connection whose action caused them, for author exclusion. */
  o?: string;
}

export type SeatStateName = "available" | "locked" | "reserved" | "paid";

export interface HoldView {
  seats: string[];
  /** Epoch milliseconds of the hold's deadline. */
  expiresAt: number;
  extensionsLeft: number;
}

export interface Snapshot {
  seq: number;
  /** Non-available seats only; every seat of the map not listed here is available. */
  taken: Map<string, { state: Exclude<SeatStateName, "available">; userId?: string }>;
  hold: HoldView | null;
}

/** The reasons a hold was released as a whole, which its owner hears as `deleted`. */
export const holdReleaseReasons = new Set(["expired", "abandoned"]);
