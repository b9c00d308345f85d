import type { AddressInfo } from "node:net";
import { count, eq } from "drizzle-orm";
import { events, orders, seats as seatsTable } from "@seatdrop/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Browser, type Page } from "playwright-core";
import { createLogger } from "@seatdrop/observability";
import { bootstrapAdmin } from "../src/services/bootstrap-admin.ts";
import { PhxClient, createEvent, createUser, push, seatIdsGrid } from "../../../test/support/cluster.ts";
import { auth, postWebhook, startOrdersWorld, type OrdersWorld } from "./orders-harness.ts";
import { CHROMIUM, hasChromium, launchChromium } from "../../../test/support/browser.ts";

/**
 * The ops page (/ops) in Debian's Chromium: the API's own row and PostgreSQL beside the nodes, the
 * sign-in form back whenever the token is refused (a stale token, a non-admin), and sign-out.
 */
if (!hasChromium) console.warn(`ops page test skipped: no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`);

let w: OrdersWorld;
let browser: Browser;
let base: string;

beforeAll(async () => {
  w = await startOrdersWorld();
  w.env.config.OPS_TARGETS = w.cluster.nodes.map((n) => `http://127.0.0.1:${n.port}`).join(",");
  await bootstrapAdmin({ db: w.env.db, config: w.env.config, logger: createLogger("test", "silent") });
  await w.app.listen({ host: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${(w.app.server.address() as AddressInfo).port}`;
  if (!hasChromium) return;
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await w?.close();
});

describe("GET /api/ops/status", () => {
  it("has the API's own row and PostgreSQL", async () => {
    const admin = await createUser(w.env, "admin");
    const s = (await w.app.inject({ method: "GET", url: "/api/ops/status", headers: { authorization: `Bearer ${admin.token}` } })).json();
    expect(s.api).toMatchObject({ healthy: true, ready: true, pid: process.pid });
    expect(s.postgres).toMatchObject({ ok: true });
    expect(s.postgres.version).toMatch(/^\d+/);
    expect(s.postgres.connections).toBeGreaterThan(0);
    // The nodes' socket counts come from their /metrics, read with the metrics token.
    for (const a of s.apps) expect(a.connections, a.name).not.toBeNull();
  });

  it("counts lock refusals by reason from the nodes' metrics", async () => {
    const admin = await createUser(w.env, "admin");
    const status = async () => (await w.app.inject({ method: "GET", url: "/api/ops/status", headers: { authorization: `Bearer ${admin.token}` } })).json();
    const before = await status();
    const eventId = await createEvent(w.env, seatIdsGrid(1, 2));
    const [a, b] = [await createUser(w.env), await createUser(w.env)];
    const ca = new PhxClient(w.cluster.nodes[0]!.port, a.token);
    const cb = new PhxClient(w.cluster.nodes[1]!.port, b.token);
    try {
      expect((await push((await ca.join(`seats:${eventId}`)).channel, "lock", { seat: "A_1" })).status).toBe("ok");
      expect((await push((await cb.join(`seats:${eventId}`)).channel, "lock", { seat: "A_1" })).response).toMatchObject({ reason: "already_locked" });
    } finally {
      await Promise.all([ca.disconnect(), cb.disconnect()]);
    }
    const after = await status();
    expect(after.locks.ok).toBeGreaterThan(before.locks.ok);
    expect(after.locks.refused.already_locked ?? 0).toBeGreaterThan(before.locks.refused.already_locked ?? 0);
    const row = after.events.find((e: { id: string }) => e.id === eventId);
    expect(row).toMatchObject({ seats: 2, taken: 1, holds: 1, sales_paused: false, hold_list: [{ user_id: a.id }] });
  });
});

async function signIn(page: Page, email: string, password: string) {
  await page.fill('[data-testid="email"]', email);
  await page.fill('[data-testid="password"]', password);
  await page.click('[data-testid="signin-button"]');
}

describe.skipIf(!hasChromium)("ops page in a real browser", () => {
  it("a refused token brings the sign-in form back; an admin sees every app and PostgreSQL, and signs out", async () => {
    const page = await (await browser.newContext()).newPage();
    // A token from another deployment (or expired) left in localStorage.
    await page.goto(`${base}/ops`);
    await page.evaluate(() => localStorage.setItem("seatdrop.ops.token", "not-a-valid-token"));
    await page.reload();
    await page.waitForSelector('[data-testid="error"]:has-text("signed out")');
    expect(await page.isVisible('[data-testid="signin"]')).toBe(true);
    expect(await page.evaluate(() => localStorage.getItem("seatdrop.ops.token"))).toBeNull();

    // A buyer signs in: not an admin, so the form stays, saying why.
    const email = `buyer-${Date.now()}@example.com`;
    expect((await w.app.inject({ method: "POST", url: "/api/users/create", payload: { user_params: { username: `buyer-${Date.now()}`, email, password_hash: "buyer-password" } } })).statusCode).toBe(201);
    await signIn(page, email, "buyer-password");
    await page.waitForSelector('[data-testid="error"]:has-text("not an admin")');
    expect(await page.isVisible('[data-testid="signin"]')).toBe(true);

    // The admin: the API's row, both nodes, PostgreSQL and Redis up.
    await signIn(page, w.env.config.ADMIN_EMAIL, w.env.config.ADMIN_PASSWORD);
    await page.waitForSelector('[data-testid="apps"] tbody tr[data-app="api (this instance)"][data-healthy="true"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="apps"] tbody tr[data-healthy="true"]').length === 3);
    await page.waitForSelector('[data-testid="postgres"]:has-text("up")');
    await page.waitForSelector('[data-testid="redis"]:has-text("up")');
    expect(await page.isVisible('[data-testid="signin"]')).toBe(false);
    await page.screenshot({ path: "/tmp/ops-page-signed-in.png" });

    // Sign out: the form is back, the token forgotten and revoked on the server.
    const token = await page.evaluate(() => localStorage.getItem("seatdrop.ops.token"));
    await page.click('[data-testid="signout"]');
    await page.waitForSelector('[data-testid="signin"]:visible');
    expect(await page.evaluate(() => localStorage.getItem("seatdrop.ops.token"))).toBeNull();
    await expect.poll(async () => (await w.app.inject({ method: "GET", url: "/api/ops/status", headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(401);
  }, 60_000);

  it("an admin freezes and reopens an event's sales and releases a user's hold with the page's buttons", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 4));
    const buyer = await createUser(w.env);
    const other = await createUser(w.env);
    await w.cluster.seats.lock({ eventId, userId: buyer.id, seatId: "A_1" });
    const page = await (await browser.newContext()).newPage();
    page.on("dialog", (d) => void d.accept());
    await page.goto(`${base}/ops`);
    await signIn(page, w.env.config.ADMIN_EMAIL, w.env.config.ADMIN_PASSWORD);
    const row = `[data-testid="events"] tbody tr[data-event="${eventId}"]`;
    await page.waitForSelector(`${row}[data-paused="false"] [data-testid="holds"]:text-is("1")`);
    await page.waitForSelector('[data-testid="locks"]:has-text("hold expiry lag")');

    await page.click(`${row} button[data-act="freeze"]`);
    await page.waitForSelector(`${row}[data-paused="true"]`);
    await expect(w.cluster.seats.lock({ eventId, userId: other.id, seatId: "A_2" })).rejects.toMatchObject({ reason: "sales_paused" });

    await page.click(`${row} button[data-act="reopen"]`);
    await page.waitForSelector(`${row}[data-paused="false"]`);
    await w.cluster.seats.lock({ eventId, userId: other.id, seatId: "A_2" });

    await page.waitForSelector(`${row} [data-testid="holds"]:text-is("2")`);
    await page.click(`${row} button[data-act="release"][data-user="${buyer.id}"]`);
    await page.waitForSelector(`${row} [data-testid="holds"]:text-is("1")`);
    expect(await w.cluster.seats.holds.holdOf(eventId, buyer.id)).toBeNull();
    expect(await w.cluster.seats.holds.holdOf(eventId, other.id)).not.toBeNull();
    await page.screenshot({ path: "/tmp/ops-page-controls.png" });
  }, 60_000);

  it("on a phone: holds by email, an event's orders refunded from the list, an event created from a CSV (a bad one creates nothing), nothing wider than the screen", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 4));
    const holder = await createUser(w.env);
    await w.cluster.seats.lock({ eventId, userId: holder.id, seatId: "A_3" });
    const buyer = await createUser(w.env);
    await w.cluster.seats.lock({ eventId, userId: buyer.id, seatId: "A_1" });
    const order = (await w.app.inject({ method: "POST", url: "/api/orders", headers: auth(buyer.token), payload: { event_id: eventId } })).json() as { id: string };
    expect((await postWebhook(w.app, w.env.config.PAYMENT_WEBHOOK_SECRET, { payment_id: `pay-${order.id}`, order_id: order.id, amount: 10, currency: "EUR", status: "succeeded" })).statusCode).toBe(200);

    const page = await (await browser.newContext({ viewport: { width: 375, height: 780 }, isMobile: true, hasTouch: true })).newPage();
    page.on("dialog", (d) => void d.accept());
    await page.goto(`${base}/ops`);
    await signIn(page, w.env.config.ADMIN_EMAIL, w.env.config.ADMIN_PASSWORD);
    const row = `[data-testid="events"] tbody tr[data-event="${eventId}"]`;
    // An alert Alertmanager posted is on the page, with its runbook.
    const posted = await w.app.inject({
      method: "POST",
      url: "/api/ops/alerts",
      headers: auth(w.env.config.METRICS_TOKEN),
      payload: { alerts: [{ status: "firing", fingerprint: "fp-page", labels: { alertname: "NoWsNodeInRotation", severity: "critical" }, annotations: { summary: "HAProxy has no ws-node in rotation", runbook_url: "docs/runbooks.md#nowsnodeinrotation" }, startsAt: new Date().toISOString() }] },
    });
    expect(posted.statusCode, posted.body).toBe(200);
    await page.waitForSelector('[data-testid="alerts"] li[data-alert="NoWsNodeInRotation"][data-severity="critical"]:has-text("docs/runbooks.md#nowsnodeinrotation")');
    // The hold is named by its buyer's email.
    await page.waitForSelector(`${row} button[data-act="release"]:has-text("${holder.id}@test.local")`);

    // The event's orders: the paid one with its buyer and seat; Refund makes it refunded.
    await page.click(`${row} button[data-act="orders"]`);
    const orderRow = `[data-testid="orders"] tbody tr[data-order="${order.id}"]`;
    await page.waitForSelector(`${orderRow}[data-status="paid"]:has-text("${buyer.id}@test.local")`);
    expect(await page.textContent(orderRow)).toContain("A_1");
    await page.click(`${orderRow} button[data-act="refund"]`);
    await page.waitForSelector(`${orderRow}[data-status="refunded"]`);
    expect((await w.env.db.db.select({ status: orders.status }).from(orders).where(eq(orders.id, order.id)))[0]!.status).toBe("refunded");

    // A new event from a CSV with a bad price: the line and column named, nothing created.
    const before = (await w.env.db.db.select({ n: count() }).from(events))[0]!.n;
    await page.fill('[data-testid="new-event"] input[name="name"]', "Uploaded night");
    await page.fill('[data-testid="new-event"] input[name="location"]', "Hall 2");
    await page.fill('[data-testid="new-event"] input[name="start_time"]', "2030-06-01T19:00");
    await page.fill('[data-testid="new-event"] input[name="end_time"]', "2030-06-01T23:00");
    const upload = (body: string) => page.setInputFiles('[data-testid="seat-map-file"]', { name: "map.csv", mimeType: "text/csv", buffer: Buffer.from(body) });
    await upload("section,row,number,price\nFloor,A,1,40\nFloor,A,2,forty\n");
    await page.click('[data-testid="create-event"]');
    await page.waitForSelector('[data-testid="new-event-problems"] li:has-text("map.csv, line 3, price")');
    expect((await w.env.db.db.select({ n: count() }).from(events))[0]!.n).toBe(before);
    // Fixed: created, with its seats.
    await upload("section,row,number,price\nFloor,A,1,40\nFloor,A,2,40\nBalcony,B,1,25.5\n");
    await page.click('[data-testid="create-event"]');
    const done = await page.waitForSelector('[data-testid="new-event-done"]:has-text("Created")');
    expect(await done.textContent()).toContain('"Uploaded night" with 3 seats');
    const created = (await done.getAttribute("data-event-id"))!;
    expect((await w.env.db.db.select({ n: count() }).from(seatsTable).where(eq(seatsTable.eventId, created)))[0]!.n).toBe(3);
    expect(await page.isVisible('[data-testid="new-event-problems"] li')).toBe(false);

    // 375 px: nothing wider than the screen, every control at least 24 px each way.
    const sizes = await page.evaluate(() => ({
      width: document.documentElement.scrollWidth,
      small: [...document.querySelectorAll<HTMLElement>("button, input, select")].filter((b) => b.offsetParent !== null && (b.offsetHeight < 24 || b.offsetWidth < 24) && (b as HTMLInputElement).type !== "hidden").map((b) => b.outerHTML.slice(0, 80)),
    }));
    expect(sizes.width).toBeLessThanOrEqual(375);
    expect(sizes.small).toEqual([]);
    await page.screenshot({ path: "/tmp/ops-page-phone.png", fullPage: true });
  }, 90_000);
});
