import type { RowSeat, SeatLayout, SeatRow } from "./seat-layout.ts";

/**
 * Best-available: the blocks of `count` adjacent seats (consecutive numbers in one row of one
 * section) that are free, ranked by the same rules for every buyer (docs/decisions/0009):
 *
 *  1. no orphan: a block that leaves a single free seat alone beside it (between the block and a
 *     taken seat, a gap in the numbers or the row's end) comes after every block that leaves none;
 *  2. nearest the front: the lower row rank within its section (rows in natural order);
 *  3. nearest the row's middle: the block's centre closest to the row's;
 *  then fewer orphans, the section's natural order and the lower first number, so the order is total.
 *
 * The ranking only picks candidates; the lock script re-checks every seat and locks the first
 * candidate that is still wholly free (lua/includes/transitions.lua, lockBlock).
 */
export interface BlockQuery {
  count: number;
  /** Only this section's rows. */
  section?: string;
  /** Only seats priced at most this, in cents. */
  maxPriceCents?: number;
  /** How many ranked blocks to return (the lock script tries them in order). */
  limit: number;
}

export interface BlockSearch {
  /** Ranked best first; at most `limit`. Empty when no block of `count` adjacent free seats exists. */
  blocks: string[][];
  /**
   * When `blocks` is empty: `count` free seats in as few contiguous pieces as possible, grouped by
   * row (front first), or null when fewer than `count` seats qualify at all.
   */
  split: string[][] | null;
}

interface Scored {
  row: SeatRow;
  /** Index in the row of the block's first seat, and its length. */
  at: number;
  count: number;
  orphans: number;
  distance: number;
}

/** A free stretch of one row: consecutive numbers, none taken; `from`/`to` index the row's seats. */
interface Stretch {
  row: SeatRow;
  from: number;
  to: number;
}

export function findBlocks(layout: SeatLayout, isTaken: (seatId: string) => boolean, q: BlockQuery): BlockSearch {
  const priceOk = (s: RowSeat) => q.maxPriceCents === undefined || s.priceCents <= q.maxPriceCents;
  const best: Scored[] = [];
  const runs: Stretch[] = [];
  for (const row of layout.rows) {
    if (q.section !== undefined && row.section !== q.section) continue;
    for (const free of freeStretches(row, isTaken)) {
      // Within a free stretch, the seats the filters allow form runs; every window of a run is a block.
      for (const run of splitWhere(free, (i) => priceOk(row.seats[i]!))) {
        runs.push(run);
        for (let i = run.from; i + q.count - 1 <= run.to; i++) keepBest(best, scoreWindow(row, free, i, q.count), q.limit);
      }
    }
  }
  if (best.length > 0) return { blocks: best.map((b) => seatsOf(b).map((s) => s.id)), split: null };
  return { blocks: [], split: splitOffer(runs, q.count) };
}

/** The row's maximal stretches of free seats with consecutive numbers. */
function freeStretches(row: SeatRow, isTaken: (seatId: string) => boolean): Stretch[] {
  const out: Stretch[] = [];
  let from = -1;
  for (let i = 0; i < row.seats.length; i++) {
    const s = row.seats[i]!;
    const joins = from >= 0 && s.number === row.seats[i - 1]!.number + 1;
    if (isTaken(s.id)) {
      if (from >= 0) out.push({ row, from, to: i - 1 });
      from = -1;
    } else if (!joins) {
      if (from >= 0) out.push({ row, from, to: i - 1 });
      from = i;
    }
  }
  if (from >= 0) out.push({ row, from, to: row.seats.length - 1 });
  return out;
}

/** The sub-stretches of `s` whose every index passes `ok`. */
function splitWhere(s: Stretch, ok: (i: number) => boolean): Stretch[] {
  const out: Stretch[] = [];
  let from = -1;
  for (let i = s.from; i <= s.to; i++) {
    if (ok(i)) {
      if (from < 0) from = i;
    } else if (from >= 0) {
      out.push({ row: s.row, from, to: i - 1 });
      from = -1;
    }
  }
  if (from >= 0) out.push({ row: s.row, from, to: s.to });
  return out;
}

/** The block of `count` seats from index `at`, inside the free stretch `free`. */
function scoreWindow(row: SeatRow, free: Stretch, at: number, count: number): Scored {
  const last = at + count - 1;
  const orphans = (at - free.from === 1 ? 1 : 0) + (free.to - last === 1 ? 1 : 0);
  const centre = (row.seats[at]!.number + row.seats[last]!.number) / 2;
  return { row, at, count, orphans, distance: Math.abs(centre - row.middle) };
}

function seatsOf(b: Scored): RowSeat[] {
  return b.row.seats.slice(b.at, b.at + b.count);
}

/** Negative when `a` ranks before `b` (the rules above). */
export function compareBlocks(a: Scored, b: Scored): number {
  return (
    Number(a.orphans > 0) - Number(b.orphans > 0) ||
    a.row.rank - b.row.rank ||
    a.distance - b.distance ||
    a.orphans - b.orphans ||
    a.row.sectionRank - b.row.sectionRank ||
    a.row.seats[a.at]!.number - b.row.seats[b.at]!.number
  );
}

/** Keeps the `limit` best in order (a short array: insertion beats sorting every window of a venue). */
function keepBest(best: Scored[], c: Scored, limit: number): void {
  if (best.length >= limit && compareBlocks(c, best[best.length - 1]!) >= 0) return;
  let i = best.length;
  while (i > 0 && compareBlocks(c, best[i - 1]!) < 0) i--;
  best.splice(i, 0, c);
  if (best.length > limit) best.pop();
}

/**
 * `count` seats in the fewest contiguous pieces: the longest runs first (which needs the fewest),
 * ties to the front, then to the middle; the last piece takes the best window of the seats it needs.
 */
function splitOffer(runs: Stretch[], count: number): string[][] | null {
  const len = (r: Stretch) => r.to - r.from + 1;
  if (runs.reduce((n, r) => n + len(r), 0) < count) return null;
  const mid = (r: Stretch) => Math.abs((r.row.seats[r.from]!.number + r.row.seats[r.to]!.number) / 2 - r.row.middle);
  const ordered = [...runs].sort((a, b) => len(b) - len(a) || a.row.rank - b.row.rank || mid(a) - mid(b) || a.row.sectionRank - b.row.sectionRank || a.from - b.from);
  const pieces: Scored[] = [];
  let left = count;
  for (const r of ordered) {
    if (left === 0) break;
    const take = Math.min(left, len(r));
    let piece = scoreWindow(r.row, r, r.from, take);
    for (let i = r.from + 1; i + take - 1 <= r.to; i++) {
      const c = scoreWindow(r.row, r, i, take);
      if (compareBlocks(c, piece) < 0) piece = c;
    }
    pieces.push(piece);
    left -= take;
  }
  // One list per row, front rows first, seats in number order.
  const byRow = new Map<SeatRow, RowSeat[]>();
  for (const p of pieces) byRow.set(p.row, [...(byRow.get(p.row) ?? []), ...seatsOf(p)]);
  return [...byRow.entries()]
    .sort(([a], [b]) => a.rank - b.rank || a.sectionRank - b.sectionRank)
    .map(([, seats]) => seats.sort((a, b) => a.number - b.number).map((s) => s.id));
}
