import { eq } from "drizzle-orm";
import { EventMemo, seats as seatsTable, type Db } from "@seatdrop/db";
import { naturalCompare } from "./natural-compare.ts";

/** One seat of a layout row, as best-available reads it. */
export interface RowSeat {
  id: string;
  number: number;
  priceCents: number;
}

/** One row of one section: its seats ordered by number, and its rank from the front of the section. */
export interface SeatRow {
  section: string;
  row: string;
  /** 0 for the section's first row in the layout's natural order (`A` < `B`, `2` < `10`). */
  rank: number;
  /** Natural order of the section among the event's sections: the last tie-break, so ties are stable. */
  sectionRank: number;
  seats: RowSeat[];
  /** The row's middle, in seat numbers: halfway between its lowest and highest. */
  middle: number;
}

/** An event's layout as rows, for finding blocks of adjacent seats. */
export interface SeatLayout {
  rows: SeatRow[];
  sections: ReadonlySet<string>;
}

/** A seat as the event's layout stores it (PostgreSQL's `seats` table). */
export interface LayoutSeatRecord {
  id: string;
  section: string | null;
  row: string | null;
  number: number | null;
  priceCents: number;
}

/**
 * Groups an event's seats into rows. A seat without a row or a number has no neighbours, so it is
 * never part of a block; a seat without a section is in the section "" (unnamed).
 */
export function buildSeatLayout(records: readonly LayoutSeatRecord[]): SeatLayout {
  const bySection = new Map<string, Map<string, RowSeat[]>>();
  const sections = new Set<string>();
  for (const r of records) {
    if (r.section !== null) sections.add(r.section);
    if (r.row === null || r.number === null) continue;
    const section = r.section ?? "";
    let rows = bySection.get(section);
    if (!rows) bySection.set(section, (rows = new Map()));
    let seats = rows.get(r.row);
    if (!seats) rows.set(r.row, (seats = []));
    seats.push({ id: r.id, number: r.number, priceCents: r.priceCents });
  }
  const out: SeatRow[] = [];
  const sectionNames = [...bySection.keys()].sort(naturalCompare);
  for (const [sectionRank, section] of sectionNames.entries()) {
    const rows = bySection.get(section)!;
    const rowNames = [...rows.keys()].sort(naturalCompare);
    for (const [rank, row] of rowNames.entries()) {
      const seats = rows.get(row)!.sort((a, b) => a.number - b.number);
      out.push({ section, row, rank, sectionRank, seats, middle: (seats[0]!.number + seats[seats.length - 1]!.number) / 2 });
    }
  }
  return { rows: out, sections };
}

/**
 * Layouts by event, read from PostgreSQL once and kept (a layout does not change once its event
 * exists; EventMemo confirms the event still exists every minute). A 20,000-seat layout is a
 * 20,000-row read: best-available would otherwise pay it on every push.
 */
export class SeatLayouts {
  private readonly memo: EventMemo<SeatLayout>;

  constructor(db: Db) {
    this.memo = new EventMemo(db, {
      load: async (eventId) => {
        const rows = await db
          .select({ id: seatsTable.seatId, section: seatsTable.section, row: seatsTable.row, number: seatsTable.number, priceCents: seatsTable.priceCents })
          .from(seatsTable)
          .where(eq(seatsTable.eventId, eventId));
        return rows.length === 0 ? null : buildSeatLayout(rows);
      },
      recheckMs: 60_000,
      max: 32,
    });
  }

  get(eventId: string): Promise<SeatLayout | null> {
    return this.memo.get(eventId);
  }
}
