/**
 * Typed decoders of the seat scripts' replies (the `Output` each ../lua/<name>-<n>.lua header
 * states). Each checks the shape it reads and names the fields, so a script whose reply changes
 * fails here with the script, position and field named, not as a wrong number further on.
 * Error replies (a negative first element) are turned into SeatErrors before these run.
 */
import { readReply as read, ScriptReplyError } from "@seatdrop/redis";

/**
 * seatTransitions: one reply per transition of the batch, in order (each decoded by
 * decodeLockSeat or decodeUnlockSeat once refusals are taken out).
 */
export function decodeSeatTransitions(r: unknown, count: number): unknown[] {
  if (!Array.isArray(r)) throw new ScriptReplyError("seatTransitions", `expected an array, got ${JSON.stringify(r)}`);
  if (r.length !== count) throw new ScriptReplyError("seatTransitions", `expected ${count} replies, one per transition, got ${r.length}`);
  return r;
}

/** A lock's reply in seatTransitions: `{1, seq, deadline, newHold, holdSize, earliest}`. */
export function decodeLockSeat(r: unknown) {
  const x = read("lockSeat", r, 6);
  return { seq: x.int(1, "seq"), deadline: x.int(2, "deadline"), newHold: x.flag(3, "newHold"), holdSize: x.int(4, "holdSize"), earliest: x.flag(5, "earliest") };
}

/** A best-available block's reply in seatTransitions: `{1, seq, deadline, newHold, holdSize, earliest, index}` (index 1-based). */
export function decodeLockBlock(r: unknown) {
  const x = read("lockBlock", r, 7);
  return { seq: x.int(1, "seq"), deadline: x.int(2, "deadline"), newHold: x.flag(3, "newHold"), holdSize: x.int(4, "holdSize"), earliest: x.flag(5, "earliest"), index: x.int(6, "index") - 1 };
}

/** An unlock's reply in seatTransitions: `{1, seq, seatsLeft}`. */
export function decodeUnlockSeat(r: unknown) {
  const x = read("unlockSeat", r, 3);
  return { seq: x.int(1, "seq"), seatsLeft: x.int(2, "seatsLeft") };
}

/** extendHold: `{1, deadline, extensionsLeft}`. */
export function decodeExtendHold(r: unknown) {
  const x = read("extendHold", r, 3);
  return { deadline: x.int(1, "deadline"), extensionsLeft: x.int(2, "extensionsLeft") };
}

/** setSeatState: `{1, seq, eventType}`. */
export function decodeSetSeatState(r: unknown) {
  const x = read("setSeatState", r, 3);
  return { seq: x.int(1, "seq"), type: x.str(2, "type") };
}

/** reserveHold: `{1, seq, seat…}`. */
export function decodeReserveHold(r: unknown) {
  const x = read("reserveHold", r, 2);
  return { seq: x.int(1, "seq"), seats: x.rest(2, "seats") };
}

/** rebuildState: `{changes}`. */
export function decodeRebuildState(r: unknown) {
  const x = read("rebuildState", r, 1);
  return { changes: x.int(0, "changes") };
}

/** releaseHold: `{released, reason}` (reason `expired`, `abandoned` or `none`). */
export function decodeReleaseHold(r: unknown) {
  const x = read("releaseHold", r, 2);
  return { released: x.int(0, "released"), reason: x.str(1, "reason") };
}

/** releaseHold, mode `admin`: `{released, 'released_by_admin', seat…}`, or `{0, 'none'}` without a hold. */
export function decodeReleaseHoldByAdmin(r: unknown) {
  const x = read("releaseHold", r, 2);
  const released = x.int(0, "released");
  return x.str(1, "reason") === "released_by_admin" ? { released, seats: x.rest(2, "seats") } : { released, seats: [] as string[] };
}

/** sweepHolds: `{released, nextDeadline, more, skipped}`. */
export function decodeSweepHolds(r: unknown) {
  const x = read("sweepHolds", r, 4);
  return { released: x.int(0, "released"), next: x.int(1, "next"), more: x.flag(2, "more"), skipped: x.flag(3, "skipped") };
}

/** abandonHolds: `{released, nextFrom}` (0: the walk is done). */
export function decodeAbandonHolds(r: unknown) {
  const x = read("abandonHolds", r, 2);
  return { released: x.int(0, "released"), next: x.int(1, "next") };
}

/** snapshot: `{seq, flatState, holdDeadline, extensionsLeft, holdSeats, epoch}`. */
export function decodeSnapshot(r: unknown) {
  const x = read("snapshot", r, 6);
  return {
    seq: x.int(0, "seq"),
    flat: x.strs(1, "state"),
    deadline: x.int(2, "holdDeadline"),
    extensionsLeft: x.int(3, "extensionsLeft"),
    holdSeats: x.strs(4, "holdSeats"),
    epoch: x.str(5, "epoch"),
  };
}

/** markLive, mode `gone`: `{hasHold, graceMs}`. */
export function decodeMarkGone(r: unknown) {
  const x = read("markLive", r, 2);
  return { hasHold: x.flag(0, "hasHold"), graceMs: x.int(1, "graceMs") };
}

/** loadEvent, step `commit`: `{epoch, seatCount, isNew}`. */
export function decodeLoadEventCommit(r: unknown) {
  const x = read("loadEvent", r, 3);
  return { epoch: x.str(0, "epoch"), seats: x.int(1, "seatCount"), isNew: x.flag(2, "isNew") };
}

/** A hold as stored in the event's `holdInfo` hash (seatLib's getHold/putHold). */
export interface HoldRecord {
  /** Deadline, ms. */
  dl: number;
  /** Extensions used. */
  ext: number;
  /** Created, ms. */
  c: number;
  /** Seat ids. */
  s: string[];
}

/** The field of one user in `holdInfo`, or null when they have none; a malformed one is a bug, named. */
export function decodeHoldRecord(raw: string | null): HoldRecord | null {
  if (raw === null) return null;
  const v = JSON.parse(raw) as Partial<HoldRecord>;
  const ok = typeof v.dl === "number" && typeof v.ext === "number" && typeof v.c === "number";
  // Lua's cjson writes an empty seat list as `{}`; a stored hold always has a seat, but read it as none.
  const seats = Array.isArray(v.s) ? v.s : v.s && typeof v.s === "object" && Object.keys(v.s).length === 0 ? [] : null;
  if (!ok || !seats || !seats.every((x) => typeof x === "string")) throw new ScriptReplyError("snapshot", `holdInfo field ${raw} is not a hold`);
  return { dl: v.dl!, ext: v.ext!, c: v.c!, s: seats };
}
