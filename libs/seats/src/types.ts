import type { SeatState } from "@seatdrop/protocol";
export type { SeatEvent, SeatMessage, SeatEventType } from "@seatdrop/protocol";
export { holdReleaseReasons } from "@seatdrop/protocol";

/** A seat's state as clients see it: the protocol's (libs/protocol seat-frames.ts). */
export type SeatStateName = SeatState;

export interface HoldView {
  seats: string[];
  /** Epoch milliseconds of the hold's deadline. */
  expiresAt: number;
  extensionsLeft: number;
}

export interface Snapshot {
  seq: number;
  /** The event's epoch in Redis: sequence numbers only compare within one epoch. */
  epoch: string;
  /** Non-available seats only; every seat of the map not listed here is available. */
  taken: Map<string, { state: Exclude<SeatStateName, "available">; userId?: string; orderId?: string }>;
  hold: HoldView | null;
}
