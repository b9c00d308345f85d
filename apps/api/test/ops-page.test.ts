import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Browser, type Page } from "playwright-core";
import { createLogger } from "@seatdrop/observability";
import { bootstrapAdmin } from "../src/services/bootstrap-admin.ts";
import { PhxClient, createEvent, createUser, push, seatIdsGrid } from "../../../test/support/cluster.ts";
import { startOrdersWorld, type OrdersWorld } from "./orders-harness.ts";
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
});
