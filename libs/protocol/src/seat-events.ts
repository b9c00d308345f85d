/**
 * The seat events as the Lua scripts log and publish them (libs/seats/lua/includes/seatLib.lua
 * `emit`): the internal wire format between Redis and the ws-nodes.
 */
export type SeatEventType = "locked" | "unlocked" | "reserved" | "unreserved" | "paid" | "unpaid";

export interface SeatEvent {
  seq: number;
  t: SeatEventType;
  seat: string;
  /** The hold's user, for lock transitions. */
  u?: string;
  /** Why a seat left a hold or a sale: `unlocked`, `expired`, `abandoned`, `revoked`. */
  why?: string;
  /**
   * In a group-committed message (libs/seats/lua/seatTransitions-19.lua), the origin of the
   * transition that caused this event, as the message's `o` is for a script of its own; absent
   * from the log's copy.
   */
  o?: string;
}

/**
 * One publish on an event's channel: the events of one script run, in order (a batch of locks and
 * unlocks is one run: its events carry their own `o`).
 */
export interface SeatMessage {
  ev: SeatEvent[];
  /** `<nodeId>:<connId>` of the connection whose action caused them, for author exclusion. */
  o?: string;
  /** The event's epoch in Redis; a new one means Redis lost the event and sequence numbers restarted. */
  ep?: string;
  /** When it was published, by Redis's clock (ms): fan-out lag is measured from it. */
  at?: number;
}

/** The reasons a hold is released as a whole; its owner hears them as `deleted`. */
export const holdReleaseReasons: ReadonlySet<string> = new Set(["expired", "abandoned", "released_by_admin"]);
