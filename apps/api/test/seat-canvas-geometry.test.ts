import { describe, expect, it } from "vitest";
// @ts-expect-error: the page's own module, plain JavaScript served as it is (no types)
import { placeSeats } from "../src/pages/seat-canvas.js";

/**
 * The canvas map's geometry (apps/api/src/pages/seat-canvas.js): the layout has sections, rows and
 * numbers but no coordinates, so the page places them itself. Every seat gets a cell of its own,
 * sections never overlap, short rows are centred, and the sections are packed to show seats as
 * large as the canvas allows.
 */
type Rec = { id: string; x: number; y: number; r: number; i: number };
type Sec = { name: string; x: number; y: number; w: number; h: number; seats: Rec[] };
type Venue = { sections: Sec[]; seatsById: Map<string, Rec>; width: number; height: number };

const grid = (sections: string[], rows: number, perRow: number) =>
  sections.flatMap((section, s) => Array.from({ length: rows * perRow }, (_, i) => ({ id: `S${s}_${Math.floor(i / perRow)}_${i % perRow}`, section, row: String(Math.floor(i / perRow) + 1), number: (i % perRow) + 1, price: 10 })));

describe("placing seats on the canvas", () => {
  it("gives every seat its own cell and keeps sections apart", () => {
    const v: Venue = placeSeats(grid(["a", "b", "c", "d", "e"], 7, 9), 800, 500);
    expect(v.seatsById.size).toBe(5 * 63);
    const cells = new Set([...v.seatsById.values()].map((r) => `${r.x},${r.y}`));
    expect(cells.size).toBe(5 * 63);
    for (const a of v.sections) for (const b of v.sections) {
      if (a === b) continue;
      const apart = a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
      expect(apart, `${a.name} and ${b.name} overlap`).toBe(true);
    }
    for (const r of v.seatsById.values()) {
      expect(r.x).toBeGreaterThanOrEqual(0);
      expect(r.x + 1).toBeLessThanOrEqual(v.width);
      expect(r.y + 1).toBeLessThanOrEqual(v.height);
    }
  });

  it("centres a short row under the longer ones", () => {
    const seats = [...["1", "2"].flatMap((row) => Array.from({ length: 10 }, (_, n) => ({ id: `A${row}_${n}`, section: "a", row, number: n + 1, price: 1 }))), ...Array.from({ length: 4 }, (_, n) => ({ id: `A3_${n}`, section: "a", row: "3", number: n + 1, price: 1 }))];
    const v: Venue = placeSeats(seats, 400, 300);
    const first = v.seatsById.get("A1_0")!, short = v.seatsById.get("A3_0")!;
    expect(short.x - first.x).toBeCloseTo(3);
    expect(short.y - first.y).toBeCloseTo(2);
  });

  it("packs eight equal sections 4 × 2 on a wide canvas and 2 × 4 on a phone", () => {
    const seats = grid(["1", "2", "3", "4", "5", "6", "7", "8"], 50, 50);
    const rowsOf = (v: Venue) => new Set(v.sections.map((s) => s.y)).size;
    expect(rowsOf(placeSeats(seats, 846, 533))).toBe(2);
    expect(rowsOf(placeSeats(seats, 343, 480))).toBe(4);
  });
});
