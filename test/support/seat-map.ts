import type { Page } from "playwright-core";

/**
 * The seat map is a canvas (apps/api/src/pages/seat-canvas.js), so a seat has no element to click.
 * The page answers where a seat is (`seatMap.reveal` zooms and pans until it can be tapped) and what
 * state it shows; the click itself is a real pointer event at those coordinates, through the map's
 * own hit-testing.
 */
declare global {
  interface Window {
    seatMap: {
      stateOf(id: string): string | undefined;
      describe(id: string): string;
      reveal(id: string): { x: number; y: number } | null;
      readonly seatCount: number;
      held(): string[];
      map: { stats: { fullPaints: number; seatPaints: number }; scale: number; has(id: string): boolean; pointOf(id: string): { x: number; y: number } | null };
      timings: { readyMs: number | null; clickShownMs: number[] };
    };
  }
}

/** Taps a seat where the map shows it (after bringing it into view at a tappable size). */
export async function clickSeat(page: Page, seat: string): Promise<void> {
  const at = await page.evaluate((id) => window.seatMap.reveal(id), seat);
  if (!at) throw new Error(`seat ${seat} is not on the map`);
  await page.mouse.click(at.x, at.y);
}

/** The state the map shows for a seat: available, locked, mine, reserved, paid. */
export const seatState = (page: Page, seat: string) => page.evaluate((id) => window.seatMap.stateOf(id) ?? null, seat);

/** Waits until the map shows the seat in that state. */
export async function waitSeat(page: Page, seat: string, state: string, timeout = 10_000): Promise<void> {
  await page.waitForFunction(([id, st]) => window.seatMap?.stateOf(id!) === st, [seat, state] as const, { timeout });
}

/** How many seats the map holds (the watched sections'). */
export const seatCount = (page: Page) => page.evaluate(() => window.seatMap.seatCount);

/** The seats of the page's hold, sorted. */
export const heldSeats = (page: Page) => page.evaluate(() => [...window.seatMap.held()].sort());
