// The types of map-follower.js (plain JavaScript, so the buyer page can import it as a static file).

export type FollowResult = "applied" | "ignored" | "resync";

/** The state each per-change Phoenix event leaves its seat in. */
export declare const STATE_AFTER: Readonly<Record<"locked" | "lockedForYou" | "unlocked" | "unlockedForYou" | "reserved" | "unreserved" | "paid" | "unpaid", string>>;

export interface SeatMapJoinReply {
  mode: string;
  seq: number;
  epoch?: string;
  seats?: Record<string, string>;
  events?: { event: string; seat?: string; seats?: string[] }[];
  sections?: string[];
}

export interface SeatMapFollowerOptions {
  /** The join asked for `changes` frames (else per-change events). */
  changes?: boolean;
  /** The map to keep (default: a new one). */
  seats?: Map<string, string>;
  /** Every seat watched: the map then holds each of them, `available` included, and ignores other seats. */
  layout?: Iterable<string>;
  /** A client that only counts gaps and never rejoins: a frame after a gap is still applied (the answer is "resync" all the same). */
  applyGaps?: boolean;
}

/** One event's seat map, kept from its join replies and pushed frames (docs/protocol.md). */
export declare class SeatMapFollower {
  constructor(options?: SeatMapFollowerOptions);
  readonly changes: boolean;
  /** seat -> state: taken seats only, or every layout seat when `layout` was given. */
  readonly seats: Map<string, string>;
  readonly layout: Set<string> | null;
  readonly applyGaps: boolean;
  /** The seq held per stream ("" is the whole event, else a section). */
  readonly seqOf: Map<string, number>;
  readonly epoch: string | undefined;
  /** A join reply was applied since the last leave()/reset(). */
  readonly joined: boolean;
  /** A gap or an epoch change was seen; cleared by the next join reply. */
  readonly resyncNeeded: boolean;
  reset(): void;
  leave(): void;
  join(reply: SeatMapJoinReply | Record<string, unknown>): FollowResult;
  apply(event: string, payload: unknown): FollowResult;
  /** The lowest seq held over the streams, or undefined before a join. */
  readonly lastSeq: number | undefined;
  rejoinParams(): { last_seq?: number; epoch?: string };
  state(seat: string): string;
  taken(): string[];
}
