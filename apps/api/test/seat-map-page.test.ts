import { existsSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { createLogger } from "@seatdrop/observability";
import { bootstrapAdmin } from "../src/services/bootstrap-admin.ts";
import { createEvent, createUser, seatIdsGrid } from "../../../test/support/cluster.ts";
import { startOrdersWorld, type OrdersWorld } from "./orders-harness.ts";

/**
 * The seat-map page in a real browser (Debian's Chromium, installed by .ci/run): two buyers in two
 * browser contexts, each on a different ws-node, see each other's locks live and order what they hold.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`seat-map page test skipped: no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`);

let w: OrdersWorld;
let browser: Browser;
let base: string;

beforeAll(async () => {
  w = await startOrdersWorld();
  // The ops page probes the test cluster's nodes (random ports) rather than npm start's defaults.
  w.env.config.OPS_TARGETS = w.cluster.nodes.map((n) => `http://127.0.0.1:${n.port}`).join(",");
  await w.app.listen({ host: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${(w.app.server.address() as AddressInfo).port}`;
  if (!hasChromium) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
afterAll(async () => {
  await browser?.close();
  await w?.close();
});

async function signUp(name: string) {
  const email = `${name}-${Date.now()}@example.com`;
  const r = await w.app.inject({ method: "POST", url: "/api/users/create", payload: { user_params: { username: `${name}-${Date.now()}`, email, password_hash: "page-test-password" } } });
  expect(r.statusCode).toBe(201);
  return email;
}

async function openAs(email: string, node: number, eventId: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  const ws = `ws://127.0.0.1:${w.cluster.nodes[node]!.port}/socket`;
  await page.goto(`${base}/?event=${eventId}&ws=${encodeURIComponent(ws)}`);
  await page.fill('[data-testid="email"]', email);
  await page.fill('[data-testid="password"]', "page-test-password");
  await page.click('[data-testid="signin-button"]');
  await page.waitForSelector('[data-testid="who"]:has-text("signed in as")');
  await page.waitForSelector('[data-testid="seats"][data-ready="true"]');
  return page;
}

const seatState = (page: Page, seat: string) => page.getAttribute(`[data-seat="${seat}"]`, "data-state");

describe.skipIf(!hasChromium)("seat-map page in a real browser", () => {
  it("two buyers on two nodes see each other's locks live, and one orders what it holds", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(2, 6));
    const alice = await openAs(await signUp("alice"), 0, eventId);
    const bob = await openAs(await signUp("bob"), 1, eventId);
    // A third buyer signs up on the page itself.
    const carol = await (await browser.newContext()).newPage();
    await carol.goto(`${base}/?event=${eventId}&ws=${encodeURIComponent(`ws://127.0.0.1:${w.cluster.nodes[0]!.port}/socket`)}`);
    await carol.fill('[data-testid="email"]', `carol-${Date.now()}@example.com`);
    await carol.fill('[data-testid="password"]', "carol-password");
    await carol.click('[data-testid="signup-button"]');
    await carol.waitForSelector('[data-testid="who"]:has-text("signed in as carol")');
    expect(await seatState(alice, "A_1")).toBe("available");

    await alice.click('[data-seat="A_1"]');
    await alice.waitForSelector('[data-seat="A_1"][data-state="mine"]');
    await bob.waitForSelector('[data-seat="A_1"][data-state="locked"]');

    await bob.click('[data-seat="A_1"]'); // someone else's: refused with the reason
    await bob.waitForSelector('[data-testid="status"]:has-text("already_locked")');
    await bob.click('[data-seat="B_2"]');
    await alice.waitForSelector('[data-seat="B_2"][data-state="locked"]');

    await alice.click('[data-testid="buy"]');
    await alice.waitForSelector('[data-testid="order"][data-status="pending"]');
    await bob.waitForSelector('[data-seat="A_1"][data-state="reserved"]');
    const shot = await alice.screenshot({ path: "/tmp/seat-map-page.png" });
    expect(shot.byteLength).toBeGreaterThan(1000);
  }, 60_000);
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

