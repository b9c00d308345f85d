import { describe, expect, it } from "vitest";
import { estimate, worthTelling } from "../src/queue/queue-node.ts";

/** When a waiter hears of a new place: every change near the front, significant ones further back. */
describe("waiting-room position pushes", () => {
  const at = (position: number, eta_s: number | null = 60, likely_sold_out = false) => ({ position, ahead: position - 1, eta_s, likely_sold_out });

  it("tells every change in the first hundred places", () => {
    expect(worthTelling(at(100), at(99), 0)).toBe(true);
    expect(worthTelling(at(5), at(5, 50), 0)).toBe(true);
  });

  it("further back, tells a fall of 1 % at once, a smaller one after a quiet spell, and never an unchanged place", () => {
    expect(worthTelling(at(50_000), at(49_999), 1000)).toBe(false);
    expect(worthTelling(at(50_000), at(49_500), 1000)).toBe(true);
    expect(worthTelling(at(50_000), at(49_999), 10_000)).toBe(true);
    expect(worthTelling(at(50_000), at(50_000), 60_000)).toBe(false);
  });

  it("tells at once when the sold-out outlook turns", () => {
    expect(worthTelling(at(50_000), at(50_000, 60, true), 0)).toBe(true);
  });

  it("estimates from the recent admission rate, and gives none while nobody is admitted", () => {
    expect(estimate(119, { perMinute: 60, free: 1000, seatsPerBuyer: 2 })).toEqual({ position: 120, ahead: 119, eta_s: 119, likely_sold_out: false });
    expect(estimate(10, { perMinute: 0, free: 1000, seatsPerBuyer: 2 }).eta_s).toBeNull();
    expect(estimate(600, { perMinute: 60, free: 1000, seatsPerBuyer: 2 }).likely_sold_out).toBe(true);
  });
});
