import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContextOptions, Page } from "playwright-core";
import { createUser } from "../../../test/support/cluster.ts";
import { CHROMIUM, hasChromium, launchChromium } from "../../../test/support/browser.ts";
import { clickSeat, waitSeat } from "../../../test/support/seat-map.ts";
// @ts-expect-error: the page's own module, plain JavaScript served as it is (no types)
import { SEAT_COLOURS } from "../src/pages/seat-canvas.js";
import { startOrdersWorld, type OrdersWorld } from "./orders-harness.ts";

/**
 * The seat map at stadium size (20,000 seats in 8 sections of 50 rows of 50) in Chromium, on a
 * desktop and a phone: the canvas map holds every seat, 600 changes from other buyers repaint those
 * seats and never the whole map, a tap on a small map zooms in before it holds, the keyboard walks
 * seats, rows and sections and says each, and the colours keep white labels at 4.5:1.
 *
 * Timings (interactive, main-thread blocking while the changes arrive, a click shown after its
 * reply) are measured here and printed, never asserted: the figures are in docs/benchmarks.md. The
 * README's stadium screenshots are taken here (UPDATE_SCREENSHOTS=1 writes them to docs/screenshots).
 */
if (!hasChromium) console.warn(`stadium map test skipped: no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`);
const SHOTS = process.env.UPDATE_SCREENSHOTS === "1" ? fileURLToPath(new URL("../../../docs/screenshots/", import.meta.url)) : mkdtempSync(join(tmpdir(), "seatdrop-shots-"));
const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 860 } };
const PHONE: BrowserContextOptions = { viewport: { width: 375, height: 780 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const SECTIONS = ["North lower", "North upper", "East lower", "East upper", "South lower", "South upper", "West lower", "West upper"];
const ROWS = 50;
const PER_ROW = 50;
const seatId = (section: number, row: number, n: number) => `S${section + 1}_${row}_${n}`;

/** WCAG's contrast ratio of two #rrggbb colours. */
export function contrast(a: string, b: string): number {
  const lum = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x! + 0.05) / (y! + 0.05);
}

const figures: string[] = [];
let w: OrdersWorld;
let browser: Browser;
let base: string;
let eventId: string;

beforeAll(async () => {
  w = await startOrdersWorld();
  await w.app.listen({ host: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${(w.app.server.address() as AddressInfo).port}`;
  if (!hasChromium) return;
  mkdirSync(SHOTS, { recursive: true });
  browser = await launchChromium();
  const admin = (await createUser(w.env, "admin")).token;
  const seats = SECTIONS.flatMap((section, s) =>
    Array.from({ length: ROWS * PER_ROW }, (_, i) => {
      const row = Math.floor(i / PER_ROW) + 1, n = (i % PER_ROW) + 1;
      return { id: seatId(s, row, n), section, row: String(row), number: n, price: s % 2 ? 35 : 80 };
    }),
  );
  const r = await w.app.inject({
    method: "POST",
    url: "/api/events",
    headers: { authorization: `Bearer ${admin}` },
    payload: { name: "Stadium night", description: "stadium map test", location: "Stadium", start_time: new Date(Date.now() + 86_400_000).toISOString(), end_time: new Date(Date.now() + 90_000_000).toISOString(), seats },
  });
  expect(r.statusCode, r.body).toBe(201);
  eventId = (r.json() as { id: string }).id;
}, 120_000);
afterAll(async () => {
  if (figures.length) console.info(`stadium map (20,000 seats, Chromium):\n  ${figures.join("\n  ")}`);
  await browser?.close();
  await w?.close();
});

/** A signed-in buyer's page on the stadium; the time from navigation to a live, painted map is noted. */
async function buyerPage(size: BrowserContextOptions, label: string): Promise<Page> {
  const buyer = await createUser(w.env);
  const page = await (await browser.newContext(size)).newPage();
  await page.addInitScript(([t, u]) => {
    localStorage.setItem("seatdrop.token", t!);
    localStorage.setItem("seatdrop.user", u!);
  }, [buyer.token, JSON.stringify({ id: buyer.id, username: "buyer" })]);
  await page.goto(`${base}/?event=${eventId}&ws=${encodeURIComponent(`ws://127.0.0.1:${w.cluster.nodes[0]!.port}/socket`)}`);
  await page.waitForSelector('[data-testid="seats"][data-ready="true"]', { timeout: 30_000 });
  await page.waitForFunction(() => window.seatMap.map.stats.fullPaints > 0 && window.seatMap.timings.readyMs !== null);
  figures.push(`${label}: interactive ${await page.evaluate(() => window.seatMap.timings.readyMs)} ms after navigation`);
  return page;
}

/** Waits until the map's live region (read by screen readers, not shown) says the text. */
const said = (page: Page, text: string) => page.waitForFunction((t) => document.querySelector('[data-testid="map-live"]')!.textContent!.includes(t), text, { timeout: 10_000 });

/** Free seats the section strip shows, all sections together. */
const freeShown = (page: Page) => page.$$eval('[data-testid="sections"] [data-section]', (chips) => chips.reduce((n, c) => n + Number((c as HTMLElement).dataset.free), 0));

describe.skipIf(!hasChromium)("a 20,000-seat stadium", () => {
  it("desktop: every seat on one canvas; 600 changes repaint only their seats; a click, the keyboard, the section strip", async () => {
    const page = await buyerPage(DESKTOP, "desktop");
    expect(await page.evaluate(() => window.seatMap.seatCount)).toBe(20_000);
    // One canvas, not a node per seat.
    expect(await page.locator("#seats *").count()).toBeLessThan(5);
    const chips = page.locator('[data-testid="sections"] [data-section]');
    expect(await chips.count()).toBe(8);
    expect(await chips.first().textContent()).toMatch(/North lower.*80\.00 · 2500 of 2500 free/);
    expect(await freeShown(page)).toBe(20_000);

    // 600 changes from other buyers, as they come (locks all over the venue).
    await page.evaluate(() => {
      const w = window as unknown as { blocking: { tasks: number; total: number; over50: number } };
      w.blocking = { tasks: 0, total: 0, over50: 0 };
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) { w.blocking.tasks++; w.blocking.total += e.duration; w.blocking.over50 += Math.max(0, e.duration - 50); }
      }).observe({ type: "longtask" });
    });
    const before = await page.evaluate(() => ({ ...window.seatMap.map.stats }));
    const taken = Array.from({ length: 600 }, (_, i) => {
      const j = Math.floor(i / 8) * 33; // 75 seats per section, spread over its rows
      return seatId(i % 8, 1 + Math.floor(j / PER_ROW), 1 + (j % PER_ROW));
    });
    expect(new Set(taken).size).toBe(600);
    const t0 = Date.now();
    for (let i = 0; i < taken.length; i += 50) {
      await Promise.all(taken.slice(i, i + 50).map((seat) => w.cluster.seats.lock({ eventId, userId: randomUUID(), seatId: seat })));
    }
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLElement>('[data-testid="sections"] [data-section]')].reduce((n, c) => n + Number(c.dataset.free), 0) === 19_400, undefined, { timeout: 20_000 });
    const arrivedIn = Date.now() - t0;
    await page.waitForTimeout(300); // long tasks are reported after they end
    const after = await page.evaluate(() => ({ ...window.seatMap.map.stats }));
    const blocking = await page.evaluate(() => (window as unknown as { blocking: { tasks: number; total: number; over50: number } }).blocking);
    expect(after.fullPaints, "a change never repaints the whole map").toBe(before.fullPaints);
    expect(after.seatPaints - before.seatPaints).toBeGreaterThanOrEqual(600);
    expect(await page.evaluate((ids) => ids.every((id) => window.seatMap.stateOf(id) === "locked"), taken)).toBe(true);
    figures.push(`desktop: 600 changes over ${arrivedIn} ms: ${blocking.tasks} long tasks, ${Math.round(blocking.total)} ms in them, ${Math.round(blocking.over50)} ms blocking (over 50 ms each); ${after.seatPaints - before.seatPaints} seat repaints, ${after.fullPaints - before.fullPaints} full`);

    // A click: zoomed in where the seat can be aimed at, held, shown in the next frame.
    const free = seatId(2, 10, 25);
    await clickSeat(page, free);
    await waitSeat(page, free, "mine");
    expect(await page.evaluate(() => window.seatMap.map.scale)).toBeGreaterThanOrEqual(24);
    // The page notes when the seat was painted after the lock's reply (in the next frame).
    await page.waitForFunction(() => window.seatMap.timings.clickShownMs.length > 0);
    const shown = await page.evaluate(() => window.seatMap.timings.clickShownMs.at(-1));
    figures.push(`desktop: a held seat painted ${shown} ms after its lock's reply`);

    // The keyboard: one tab stop; arrows by seat and row, Page Down by section, each move said; Enter holds.
    await page.focus('[data-testid="map-canvas"]');
    await page.keyboard.press("ArrowRight");
    await said(page, "row 10, seat 26");
    await page.keyboard.press("ArrowDown");
    await said(page, "Section East lower, row 11, seat 26");
    await page.keyboard.press("Enter");
    await waitSeat(page, seatId(2, 11, 26), "mine");
    await said(page, "row 11, seat 26");
    await page.keyboard.press("PageDown");
    await said(page, "Section East upper, row 1, seat 1");
    expect(await page.textContent('[data-testid="map-live"]')).toMatch(/35\.00 · taken$/); // one of the 600 taken above

    // The strip drills into a section and back out to the whole venue.
    await page.click('[data-section="West upper"]');
    expect(await page.getAttribute('[data-section="West upper"]', "aria-pressed")).toBe("true");
    const inWest = await page.evaluate(() => window.seatMap.map.pointOf("S8_25_25")!);
    const box = (await page.locator('[data-testid="map-canvas"]').boundingBox())!;
    expect(inWest.x).toBeGreaterThan(box.x);
    expect(inWest.x).toBeLessThan(box.x + box.width);
    await page.locator('[data-testid="map-canvas"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/seat-map-stadium-section.png` });
    await page.click('[data-testid="sections"] button:has-text("Whole venue")');
    await page.screenshot({ path: `${SHOTS}/seat-map-stadium-desktop.png` });
  }, 180_000);

  it("phone: a tap on the whole venue zooms in, the next one holds; 24 px targets; nothing wider than the screen", async () => {
    const page = await buyerPage(PHONE, "phone");
    await page.locator('[data-testid="map-canvas"]').evaluate((c) => c.scrollIntoView({ block: "start" }));
    const seat = seatId(0, 20, 20);
    expect(await page.evaluate(() => window.seatMap.map.scale)).toBeLessThan(24);
    let at = (await page.evaluate((id) => window.seatMap.map.pointOf(id), seat))!;
    await page.touchscreen.tap(at.x, at.y);
    await said(page, "Zoomed in");
    expect(await page.evaluate(() => window.seatMap.map.scale)).toBeGreaterThanOrEqual(24);
    expect(await page.evaluate((id) => window.seatMap.stateOf(id), seat)).toBe("available");
    at = (await page.evaluate((id) => window.seatMap.map.pointOf(id), seat))!;
    await page.touchscreen.tap(at.x, at.y);
    await waitSeat(page, seat, "mine");

    const sizes = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      canvas: document.querySelector('[data-testid="map-canvas"]')!.getBoundingClientRect().right,
      controls: [...document.querySelectorAll<HTMLElement>('[data-testid="sections"] button, .zoom button')].map((b) => Math.min(b.offsetWidth, b.offsetHeight)),
    }));
    expect(sizes.page).toBeLessThanOrEqual(375);
    expect(sizes.canvas).toBeLessThanOrEqual(375);
    expect(Math.min(...sizes.controls)).toBeGreaterThanOrEqual(24);
    await page.screenshot({ path: `${SHOTS}/seat-map-stadium-phone.png` });
  }, 120_000);

  it("keeps white seat labels and the legend at 4.5:1 or more", async () => {
    for (const [state, colour] of Object.entries(SEAT_COLOURS as Record<string, string>)) expect(contrast(colour, "#ffffff"), state).toBeGreaterThanOrEqual(4.5);
    const page = await (await browser.newContext(DESKTOP)).newPage();
    await page.goto(`${base}/?event=${eventId}`);
    const legend = await page.$$eval(".legend span", (spans) => spans.map((s) => {
      const hex = (c: string) => `#${c.match(/\d+/g)!.slice(0, 3).map((n) => Number(n).toString(16).padStart(2, "0")).join("")}`;
      return { text: s.textContent, bg: hex(getComputedStyle(s).backgroundColor), fg: hex(getComputedStyle(s).color) };
    }));
    expect(legend).toHaveLength(5);
    for (const l of legend) expect(contrast(l.bg, l.fg), `${l.text}`).toBeGreaterThanOrEqual(4.5);
    // The legend's colours are the map's.
    expect(legend.map((l) => l.bg).sort()).toEqual(Object.values(SEAT_COLOURS as Record<string, string>).sort());
  }, 60_000);
});
