import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Browser, type BrowserContextOptions, type Page } from "playwright-core";
import { createTokenSigner } from "@seatdrop/auth";
import { loadConfig } from "@seatdrop/config";
import { createLogger } from "@seatdrop/observability";
import { buildApp } from "../src/app.ts";
import { bootstrapAdmin } from "../src/services/bootstrap-admin.ts";
import { createEvent, createUser, seatIdsGrid } from "../../../test/support/cluster.ts";
import { createTestEnv } from "../../../test/support/test-env.ts";
import { auth, startOrdersWorld, type OrdersWorld } from "./orders-harness.ts";
import { CHROMIUM, hasChromium, launchChromium } from "../../../test/support/browser.ts";
import { clickSeat, waitSeat } from "../../../test/support/seat-map.ts";

/**
 * The seat-map page in a real browser (Debian's Chromium, installed by .ci/run), at desktop and phone
 * sizes: buyers on different ws-nodes see each other's locks live, hold with a countdown, extend,
 * order, pay through the development payment page, find the paid order and its ticket after a
 * reload, and talk in the event's chat room. The screenshots the README shows are taken here
 * (docs/screenshots/).
 */
if (!hasChromium) console.warn(`seat-map page test skipped: no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`);
// The README's screenshots are rewritten only on request (UPDATE_SCREENSHOTS=1), so an ordinary
// run leaves the working tree clean; otherwise they go to a temporary folder.
const SHOTS = process.env.UPDATE_SCREENSHOTS === "1" ? fileURLToPath(new URL("../../../docs/screenshots/", import.meta.url)) : mkdtempSync(join(tmpdir(), "seatdrop-shots-"));
const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 860 } };
const PHONE: BrowserContextOptions = { viewport: { width: 375, height: 780 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true };

let w: OrdersWorld;
let browser: Browser;
let base: string;
let admin: string;

beforeAll(async () => {
  w = await startOrdersWorld({ DEV_PAYMENTS: "1" });
  // The ops page probes the test cluster's nodes (random ports) rather than npm start's defaults.
  w.env.config.OPS_TARGETS = w.cluster.nodes.map((n) => `http://127.0.0.1:${n.port}`).join(",");
  await w.app.listen({ host: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${(w.app.server.address() as AddressInfo).port}`;
  admin = (await createUser(w.env, "admin")).token;
  if (!hasChromium) return;
  mkdirSync(SHOTS, { recursive: true });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await w?.close();
});

async function signUp(name: string) {
  const email = `${name}-${Date.now()}@example.com`;
  const r = await w.app.inject({ method: "POST", url: "/api/users/create", payload: { user_params: { username: `${name}-${Date.now()}`, email, password_hash: "page-test-password" } } });
  expect(r.statusCode).toBe(201);
  return { email, id: (r.json() as { user: { id: string } }).user.id, token: (r.json() as { token: string }).token };
}

/**
 * An event as an organiser creates it: two sections at two prices, starting within the chat room's
 * lead time (the worker opens its room at once).
 */
async function createDrop(name: string): Promise<string> {
  const seats = [
    ...["A", "B", "C"].flatMap((row) => Array.from({ length: 10 }, (_, i) => ({ id: `${row}_${i + 1}`, section: "floor", row, number: i + 1, price: 45.5 }))),
    ...["D", "E"].flatMap((row) => Array.from({ length: 12 }, (_, i) => ({ id: `${row}_${i + 1}`, section: "balcony", row, number: i + 1, price: 30 }))),
  ];
  const r = await w.app.inject({
    method: "POST",
    url: "/api/events",
    headers: auth(admin),
    payload: { name, description: "page test", location: "Antalya", start_time: new Date(Date.now() + 3_600_000).toISOString(), end_time: new Date(Date.now() + 4 * 3_600_000).toISOString(), seats },
  });
  expect(r.statusCode, r.body).toBe(201);
  return (r.json() as { id: string }).id;
}

const pageUrl = (eventId: string, node: number) => `${base}/?event=${eventId}&ws=${encodeURIComponent(`ws://127.0.0.1:${w.cluster.nodes[node]!.port}/socket`)}`;

async function openAs(email: string, node: number, eventId: string, size: BrowserContextOptions = DESKTOP): Promise<Page> {
  const page = await (await browser.newContext(size)).newPage();
  await page.goto(pageUrl(eventId, node));
  await page.fill('[data-testid="email"]', email);
  await page.fill('[data-testid="password"]', "page-test-password");
  await page.click('[data-testid="signin-button"]');
  await page.waitForSelector('[data-testid="who"]:has-text("signed in as")');
  await page.waitForSelector('[data-testid="seats"][data-ready="true"]');
  await page.waitForSelector('[data-testid="orders-card"]:visible');
  return page;
}

const text = async (page: Page, testid: string) => (await page.textContent(`[data-testid="${testid}"]`))?.trim() ?? "";

/** Order what the page holds, pay it on the development payment page, and come back to the map. */
async function orderAndPay(page: Page): Promise<string> {
  await page.click('[data-testid="buy"]');
  const pending = await page.waitForSelector('[data-testid="order"][data-status="pending"]');
  const orderId = (await pending.getAttribute("data-order-id"))!;
  await page.click(`[data-order-id="${orderId}"] [data-testid="pay"]`);
  await page.waitForURL(/\/dev\/pay\?order=/);
  await page.waitForSelector('[data-testid="dev-pay"]:enabled');
  await page.click('[data-testid="dev-pay"]');
  await page.waitForSelector('[data-testid="dev-result"][data-result="paid"]');
  // Back on the seat map of the order's event, a new page load: the order comes from the API.
  await page.waitForSelector(`[data-testid="order"][data-order-id="${orderId}"][data-status="paid"]`);
  await page.waitForSelector('[data-testid="seats"][data-ready="true"]');
  return orderId;
}

describe.skipIf(!hasChromium)("seat-map page in a real browser", () => {
  it("desktop and phone: hold with a countdown, extend, release, order, pay on the development page, see the ticket after a reload, chat", async () => {
    const eventId = await createDrop("Spring tour");
    const alice = await signUp("alice");
    const bob = await signUp("bob");
    const desk = await openAs(alice.email, 0, eventId, DESKTOP);
    const phone = await openAs(bob.email, 1, eventId, PHONE);

    // Sections and prices come from the layout.
    // Sections to drill into, with prices and what is free; a seat's price shows on hover.
    expect(await desk.locator('[data-section="floor"]').textContent()).toMatch(/floor.*45\.50 · 30 of 30 free/);
    expect(await desk.locator('[data-section="balcony"]').textContent()).toMatch(/balcony.*30\.00 · 24 of 24 free/);
    const a1 = (await desk.evaluate(() => window.seatMap.reveal("A_1")))!;
    await desk.mouse.move(a1.x, a1.y);
    await desk.waitForSelector('[data-testid="seat-tip"][data-seat="A_1"]:visible');
    expect(await text(desk, "seat-tip")).toMatch(/Section floor, row A, seat 1 · .*45\.50 · available/);

    // Two seats held: the running total and the countdown; the other buyer sees them taken.
    await clickSeat(desk, "A_1");
    await waitSeat(desk, "A_1", "mine");
    await clickSeat(desk, "D_1");
    await waitSeat(desk, "D_1", "mine");
    await desk.waitForSelector('[data-testid="total"][data-cents="7550"]');
    expect(await text(desk, "countdown")).toMatch(/^\d+:\d\d left$/);
    await waitSeat(phone, "A_1", "locked");
    await waitSeat(phone, "D_1", "locked");

    // Extend: one of the event's two extensions used.
    expect(await desk.getAttribute('[data-testid="extend"]', "data-left")).toBe("2");
    await desk.click('[data-testid="extend"]');
    await desk.waitForSelector('[data-testid="extend"][data-left="1"]');
    await desk.waitForSelector('[data-testid="status"]:has-text("extended")');

    // Clicking a held seat again releases it, for everyone.
    await clickSeat(desk, "D_1");
    await waitSeat(desk, "D_1", "available");
    await desk.waitForSelector('[data-testid="total"][data-cents="4550"]');
    await waitSeat(phone, "D_1", "available");

    // Someone else's seat is refused on the phone, with the reason.
    await clickSeat(phone, "A_1");
    await phone.waitForSelector('[data-testid="status"]:has-text("held by someone else")');

    // The phone: the whole map fits the width, the hold is a sheet at the bottom of the screen.
    await clickSeat(phone, "D_12");
    await clickSeat(phone, "E_12");
    await waitSeat(phone, "E_12", "mine");
    await phone.waitForSelector('[data-testid="total"][data-cents="6000"]');
    const fit = await phone.evaluate(() => {
      const box = document.getElementById("seats")!;
      const last = document.querySelector('[data-testid="map-canvas"]')!.getBoundingClientRect();
      const sheet = document.getElementById("hold-sheet")!.getBoundingClientRect();
      return { overflow: box.scrollWidth - box.clientWidth, pageOverflow: document.documentElement.scrollWidth - window.innerWidth, lastRight: last.right, sheetBottom: sheet.bottom, sheetTop: sheet.top, vh: window.innerHeight, vw: window.innerWidth, position: getComputedStyle(document.getElementById("hold-sheet")!).position };
    });
    expect(fit.overflow).toBeLessThanOrEqual(0);
    expect(fit.pageOverflow).toBeLessThanOrEqual(0);
    expect(fit.lastRight).toBeLessThanOrEqual(fit.vw);
    expect(fit.position).toBe("fixed");
    expect(fit.sheetBottom).toBe(fit.vh);
    expect(fit.sheetTop).toBeGreaterThan(fit.vh / 2);
    await phone.click('[data-testid="extend"]');
    await phone.waitForSelector('[data-testid="extend"][data-left="1"]');
    // Back out to the whole venue (a tap on a map this small zoomed in first), for the picture.
    await phone.click('[data-testid="sections"] button:has-text("Whole venue")');
    await phone.screenshot({ path: `${SHOTS}/seat-map-phone.png` });

    // Order and pay on both; the other buyer sees the seats reserved, then sold.
    const aliceOrder = await orderAndPay(desk);
    await waitSeat(phone, "A_1", "paid");
    await orderAndPay(phone);
    await waitSeat(desk, "E_12", "paid");

    // After a reload the order and its ticket are still there.
    await desk.reload();
    await desk.waitForSelector('[data-testid="seats"][data-ready="true"]');
    const card = await desk.waitForSelector(`[data-testid="order"][data-order-id="${aliceOrder}"][data-status="paid"]`);
    expect(await card.textContent()).toMatch(/TKT-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4} · A_1/);

    // Ticket holders: the chat room, who is online, typing and messages both ways.
    await desk.waitForSelector('[data-testid="chat"][data-status="active"]', { timeout: 20_000 });
    await phone.waitForSelector('[data-testid="chat"][data-status="active"]', { timeout: 20_000 });
    await desk.waitForSelector('[data-testid="online"][data-count="2"]');
    await phone.waitForSelector('[data-testid="online"][data-count="2"]');
    await phone.fill('[data-testid="chat-input"]', "Hi! Row E here");
    await desk.waitForSelector('[data-testid="typing"]:has-text("is typing")');
    await phone.click('[data-testid="chat-send"]');
    await desk.waitForSelector('[data-testid="message"]:has-text("Hi! Row E here")');
    await desk.fill('[data-testid="chat-input"]', "See you at the front, A_1");
    await desk.click('[data-testid="chat-send"]');
    await phone.waitForSelector('[data-testid="message"]:has-text("See you at the front")');
    await desk.waitForSelector('[data-testid="typing"]:empty');
    // A new hold beside the paid seat, for the picture: hold, countdown, total, order, ticket, chat.
    await clickSeat(desk, "B_5");
    await clickSeat(desk, "B_6");
    await desk.waitForSelector('[data-testid="total"][data-cents="9100"]');
    await desk.screenshot({ path: `${SHOTS}/seat-map-desktop.png` });
    await phone.locator('[data-testid="chat"]').scrollIntoViewIfNeeded();
    await phone.screenshot({ path: `${SHOTS}/seat-map-phone-chat.png` });

    // A buyer who signs up on the page itself has no ticket for the event, so no chat.
    const carol = await (await browser.newContext(PHONE)).newPage();
    await carol.goto(pageUrl(eventId, 0));
    await carol.fill('[data-testid="email"]', `carol-${Date.now()}@example.com`);
    await carol.fill('[data-testid="password"]', "carol-password");
    await carol.click('[data-testid="signup-button"]');
    await carol.waitForSelector('[data-testid="who"]:has-text("signed in as carol")');
    await carol.waitForSelector('[data-testid="orders"]:has-text("No orders yet")');
    await waitSeat(carol, "B_5", "locked");
    expect(await carol.isVisible('[data-testid="chat"]')).toBe(false);
  }, 120_000);

  it("a refused token sends the user back to sign-in, and a stale sign-in error clears after signing in", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(2, 6));
    const dave = await signUp("dave");
    const page = await (await browser.newContext(DESKTOP)).newPage();
    // A token the cluster did not sign (as after a restart with a new JWT_SECRET).
    const foreign = await createTokenSigner({ ...w.env.config, JWT_SECRET: "another-secret-another-secret-another" }).sign({ sub: dave.id, role: "user" });
    await page.addInitScript(([t, u]) => {
      if (!sessionStorage.getItem("seeded")) { localStorage.setItem("seatdrop.token", t!); localStorage.setItem("seatdrop.user", u!); sessionStorage.setItem("seeded", "1"); }
    }, [foreign, JSON.stringify({ id: dave.id, username: "dave" })]);
    await page.goto(pageUrl(eventId, 0));
    await page.waitForSelector('[data-testid="notice"]:has-text("session ended")');
    await page.waitForSelector('[data-testid="signin"]:visible');
    await page.waitForSelector('[data-testid="who"]:has-text("watching anonymously")');
    // It watches anonymously again: the map is live, not stuck reconnecting.
    await page.waitForSelector('[data-testid="seats"][data-ready="true"]');
    expect(await page.evaluate(() => localStorage.getItem("seatdrop.token"))).toBeNull();

    await page.fill('[data-testid="email"]', dave.email);
    await page.fill('[data-testid="password"]', "not the password");
    await page.click('[data-testid="signin-button"]');
    await page.waitForSelector('[data-testid="notice"]:has-text("Sign in failed")');
    await page.fill('[data-testid="password"]', "page-test-password");
    await page.click('[data-testid="signin-button"]');
    await page.waitForSelector('[data-testid="who"]:has-text("signed in as")');
    expect(await text(page, "notice")).toBe("");
    await clickSeat(page, "A_1");
    await waitSeat(page, "A_1", "mine");
  }, 60_000);
});

describe("development payments", () => {
  it("pay a pending order through the webhook's signature check, for its buyer only", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 4));
    const buyer = await createUser(w.env);
    const other = await createUser(w.env);
    await w.cluster.seats.lock({ eventId, seatId: "A_1", userId: buyer.id });
    const created = await w.app.inject({ method: "POST", url: "/api/orders", headers: auth(buyer.token), payload: { event_id: eventId } });
    expect(created.statusCode, created.body).toBe(201);
    const orderId = (created.json() as { id: string }).id;
    const pay = (token: string | null, outcome = "succeeded") =>
      w.app.inject({ method: "POST", url: "/api/dev/payments", headers: token ? auth(token) : {}, payload: { order_id: orderId, outcome } });
    expect((await pay(null)).statusCode).toBe(401);
    expect((await pay(other.token)).statusCode).toBe(403);
    const bad = await pay(buyer.token, "maybe");
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors[0].field).toContain("outcome");
    const failed = await pay(buyer.token, "failed");
    expect(failed.json()).toMatchObject({ webhook: { result: "payment_failed" }, order: { status: "pending" } });
    const paid = await pay(buyer.token);
    expect(paid.statusCode, paid.body).toBe(200);
    expect(paid.json()).toMatchObject({ webhook: { result: "paid", duplicate: false }, order: { id: orderId, status: "paid", tickets: [{ seat_id: "A_1", status: "valid" }] } });
    const again = await pay(buyer.token);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: "order_not_pending", field: "order_id" });
    expect((await w.app.inject({ method: "GET", url: "/dev/pay" })).statusCode).toBe(200);
  });

  it("is off unless DEV_PAYMENTS=1, in development too: neither the page nor the route exists, and the seat map offers no Pay", async () => {
    const env = await createTestEnv({ NODE_ENV: "development" });
    const app = buildApp({ config: env.config, db: env.db, redis: env.redis, keys: env.keys, logger: createLogger("page-test", "silent") });
    try {
      await app.ready();
      expect(env.config.DEV_PAYMENTS).toBe(false);
      const user = await createUser(env);
      expect((await app.inject({ method: "GET", url: "/dev/pay?order=x" })).statusCode).toBe(404);
      const post = await app.inject({ method: "POST", url: "/api/dev/payments", headers: auth(user.token), payload: { order_id: "00000000-0000-4000-8000-000000000000", outcome: "succeeded" } });
      expect(post.statusCode).toBe(404);
      expect((await app.inject({ method: "GET", url: "/" })).body).toContain("window.SEATDROP_DEV_PAYMENTS = false;");
    } finally {
      await app.close();
      await env.close();
    }
    // …and production refuses it outright, naming the variable.
    expect(() => loadConfig({ NODE_ENV: "production", DEV_PAYMENTS: "1", JWT_SECRET: "j".repeat(40), SERVICE_SECRET: "s".repeat(40), ADMIN_PASSWORD: "a".repeat(40), PAYMENT_WEBHOOK_SECRET: "w".repeat(40), METRICS_TOKEN: "m".repeat(40), ADMIN_EMAIL: "admin@x.test" })).toThrow(/DEV_PAYMENTS=1 is refused when NODE_ENV=production/);
  });

  it("cannot be reached in production: neither the page nor the route exists, and the seat map offers no Pay", async () => {
    const env = await createTestEnv({
      NODE_ENV: "production",
      SERVICE_SECRET: "service-secret-service-secret-0123",
      ADMIN_PASSWORD: "admin-password-admin-password",
      PAYMENT_WEBHOOK_SECRET: "webhook-secret-webhook-secret-0123",
      METRICS_TOKEN: "metrics-token-metrics-token-012345",
    });
    const app = buildApp({ config: env.config, db: env.db, redis: env.redis, keys: env.keys, logger: createLogger("page-test", "silent") });
    try {
      await app.ready();
      const user = await createUser(env);
      expect((await app.inject({ method: "GET", url: "/dev/pay?order=x" })).statusCode).toBe(404);
      const post = await app.inject({ method: "POST", url: "/api/dev/payments", headers: auth(user.token), payload: { order_id: "00000000-0000-4000-8000-000000000000", outcome: "succeeded" } });
      expect(post.statusCode).toBe(404);
      const page = await app.inject({ method: "GET", url: "/" });
      expect(page.body).toContain("window.SEATDROP_DEV_PAYMENTS = false;");
      const spec = await app.inject({ method: "GET", url: "/openapi.json" });
      expect(spec.body).not.toContain("/api/dev/payments");
    } finally {
      await app.close();
      await env.close();
    }
  });
});

describe("ops status", () => {
  it("is for admins (401 without a token, 403 for a buyer) and shows every node, Redis, the queues and the events", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 4));
    expect((await w.app.inject({ method: "GET", url: "/api/ops/status" })).statusCode).toBe(401);
    const buyer = await createUser(w.env);
    expect((await w.app.inject({ method: "GET", url: "/api/ops/status", headers: { authorization: `Bearer ${buyer.token}` } })).statusCode).toBe(403);
    const admin = await createUser(w.env, "admin");
    const r = await w.app.inject({ method: "GET", url: "/api/ops/status", headers: { authorization: `Bearer ${admin.token}` } });
    expect(r.statusCode).toBe(200);
    const s = r.json();
    expect(s.apps).toHaveLength(2);
    for (const a of s.apps) expect(a).toMatchObject({ healthy: true, ready: true });
    expect(s.redis.ok).toBe(true);
    expect(s.queues.map((q: { name: string }) => q.name)).toEqual(["holds", "orders", "chat-rooms"]);
    expect(s.events.find((e: { id: string }) => e.id === eventId)).toBeDefined();
  });
});

describe.skipIf(!hasChromium)("ops page in a real browser", () => {
  it("an admin signs in and sees both ws-nodes up", async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/ops`);
    await page.fill('[data-testid="email"]', w.env.config.ADMIN_EMAIL);
    await page.fill('[data-testid="password"]', w.env.config.ADMIN_PASSWORD);
    await bootstrapAdmin({ db: w.env.db, config: w.env.config, logger: createLogger("test", "silent") });
    await page.click('[data-testid="signin-button"]');
    await page.waitForSelector('[data-testid="apps"] tbody tr[data-healthy="true"]');
    // The API's own row and both ws-nodes.
    expect(await page.locator('[data-testid="apps"] tbody tr[data-healthy="true"]').count()).toBe(3);
    await page.screenshot({ path: "/tmp/ops-page.png" });
  }, 60_000);
});

