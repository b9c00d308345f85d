import { describe, expect, it } from "vitest";
import { buildSeatLayout, findBlocks, type LayoutSeatRecord } from "@seatdrop/seats";

/** A section of `rows` rows (A, B, …) of seats 1..perRow, ids `<section>-<row>-<n>`, all at `price` cents. */
function section(name: string, rows: string[], perRow: number, price = 1000): LayoutSeatRecord[] {
  return rows.flatMap((row) => Array.from({ length: perRow }, (_, i) => ({ id: `${name}-${row}-${i + 1}`, section: name, row, number: i + 1, priceCents: price })));
}
const takenOf = (ids: string[]) => {
  const s = new Set(ids);
  return (id: string) => s.has(id);
};
const ids = (prefix: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}-${from + i}`);

describe("best-available ranking (findBlocks)", () => {
  it("prefers the front row, then the row's middle", () => {
    const layout = buildSeatLayout(section("S", ["A", "B"], 10));
    const r = findBlocks(layout, () => false, { count: 2, limit: 3 });
    // Row A, centred: 5-6; then 4-5 and 6-7 (equal distance; the lower number first).
    expect(r.blocks).toEqual([ids("S-A", 5, 6), ids("S-A", 4, 5), ids("S-A", 6, 7)]);
    expect(r.split).toBeNull();
  });

  it("orders rows naturally (row 2 before row 10), not as strings", () => {
    const layout = buildSeatLayout(section("S", ["10", "2"], 4));
    expect(findBlocks(layout, () => false, { count: 4, limit: 1 }).blocks).toEqual([ids("S-2", 1, 4)]);
  });

  it("avoids leaving a single free seat beside the block, even at the cost of the middle or the row", () => {
    // Row A: 1 2 3 4 5 [6 taken], middle 3.5: 4-5 and 1-2 leave no one alone; 3-4 and 2-3 leave a single seat.
    const layout = buildSeatLayout(section("S", ["A"], 6));
    const r = findBlocks(layout, takenOf(["S-A-6"]), { count: 2, limit: 10 });
    expect(r.blocks).toEqual([ids("S-A", 4, 5), ids("S-A", 1, 2), ids("S-A", 3, 4), ids("S-A", 2, 3)]);
    // A back row without orphans beats a front row that can only leave one.
    const three = buildSeatLayout([...section("S", ["A"], 3), ...section("S", ["B"], 4)]);
    expect(findBlocks(three, () => false, { count: 2, limit: 1 }).blocks).toEqual([ids("S-B", 1, 2)]);
  });

  it("relaxes to blocks that leave an orphan when no other exists", () => {
    const layout = buildSeatLayout(section("S", ["A"], 3));
    expect(findBlocks(layout, () => false, { count: 2, limit: 5 }).blocks).toEqual([ids("S-A", 1, 2), ids("S-A", 2, 3)]);
  });

  it("never spans a taken seat or a gap in the numbers (an aisle)", () => {
    const records = [...section("S", ["A"], 3), { id: "S-A-5", section: "S", row: "A", number: 5, priceCents: 1000 }, { id: "S-A-6", section: "S", row: "A", number: 6, priceCents: 1000 }];
    const r = findBlocks(buildSeatLayout(records), takenOf(["S-A-2"]), { count: 2, limit: 10 });
    expect(r.blocks).toEqual([ids("S-A", 5, 6)]);
  });

  it("restricts to one section and to seats priced at most max_price", () => {
    const layout = buildSeatLayout([...section("Floor", ["A"], 4, 9000), ...section("Balcony", ["A"], 4, 3000)]);
    expect(findBlocks(layout, () => false, { count: 2, limit: 1 }).blocks).toEqual([ids("Balcony-A", 1, 2)]);
    expect(findBlocks(layout, () => false, { count: 2, section: "Floor", limit: 1 }).blocks).toEqual([ids("Floor-A", 1, 2)]);
    expect(findBlocks(layout, () => false, { count: 2, section: "Floor", maxPriceCents: 8999, limit: 1 })).toEqual({ blocks: [], split: null });
    expect(findBlocks(layout, () => false, { count: 2, maxPriceCents: 3000, limit: 5 }).blocks.every((b) => b.every((s) => s.startsWith("Balcony")))).toBe(true);
  });

  it("with no block of count adjacent seats, offers the count in the fewest rows, front first", () => {
    // Row A: 3 free (1-3), row B: 2 free (1-2), row C: 3 free (2-4 after 1 taken) ; 5 seats asked.
    const layout = buildSeatLayout(section("S", ["A", "B", "C"], 4));
    const taken = takenOf(["S-A-4", "S-B-3", "S-B-4", "S-C-1"]);
    const r = findBlocks(layout, taken, { count: 5, limit: 5 });
    expect(r.blocks).toEqual([]);
    // Two rows suffice: the two 3-runs (A and C), the second giving 2 of its 3.
    expect(r.split).toHaveLength(2);
    expect(r.split![0]).toEqual(ids("S-A", 1, 3));
    expect(r.split![1]).toHaveLength(2);
    expect(r.split!.flat().every((s) => !taken(s))).toBe(true);
    expect(r.split![1]!.every((s) => s.startsWith("S-C"))).toBe(true);
  });

  it("a count larger than any row is offered as a split; too few seats at all, no offer", () => {
    const layout = buildSeatLayout(section("S", ["A", "B"], 4));
    const r = findBlocks(layout, () => false, { count: 6, limit: 5 });
    expect(r.blocks).toEqual([]);
    // Row B gives 2 of its 4 without leaving one alone: 1-2 (2-3 would strand 1 and 4).
    expect(r.split).toEqual([ids("S-A", 1, 4), ids("S-B", 1, 2)]);
    expect(findBlocks(layout, () => false, { count: 9, limit: 5 })).toEqual({ blocks: [], split: null });
  });

  it("returns at most limit blocks, all distinct, all of count consecutive free seats", () => {
    const layout = buildSeatLayout(section("S", ["A", "B", "C"], 20));
    const taken = takenOf(["S-A-7", "S-B-10", "S-C-3"]);
    const r = findBlocks(layout, taken, { count: 4, limit: 8 });
    expect(r.blocks).toHaveLength(8);
    expect(new Set(r.blocks.map((b) => b.join())).size).toBe(8);
    for (const b of r.blocks) {
      const nums = b.map((s) => Number(s.split("-")[2]));
      expect(nums).toEqual(nums.map((_, i) => nums[0]! + i));
      expect(new Set(b.map((s) => s.split("-")[1])).size).toBe(1);
      expect(b.some(taken)).toBe(false);
    }
  });
});
