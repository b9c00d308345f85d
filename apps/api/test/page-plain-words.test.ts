import { readdirSync, readFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { CHAT_ERROR_REASONS } from "@seatdrop/chat";
import { createLogger } from "@seatdrop/observability";
import { holdReleaseReasons } from "@seatdrop/protocol";
import { SeatErrorCode } from "@seatdrop/seats";
import { startWsNode, type WsNode } from "../../ws-node/src/node.ts";
import { FRAME_ERROR_REASONS } from "../../ws-node/src/channels/channel.ts";
import { createEvent, createUser, seatIdsGrid } from "../../../test/support/cluster.ts";
import { CHROMIUM, hasChromium, launchChromium } from "../../../test/support/browser.ts";
import { clickSeat, heldSeats, seatCount, waitSeat } from "../../../test/support/seat-map.ts";
// @ts-expect-error: the page's own module, plain JavaScript served as it is (no types)
import { explain, REASON_WORDS, RELEASE_WORDS, released } from "../src/pages/wording.js";
import { startOrdersWorld, type OrdersWorld } from "./orders-harness.ts";

/**
 * The seat-map page speaks plainly: every code the cluster can answer it with has words (the one
 * table, apps/api/src/pages/wording.js), seconds are seconds, a frozen sale and a lost connection
 * are banners that stop the controls until they clear, picking another event drops the last
 * event's section filter, and "Best available" holds a block or offers the split in words.
 */
const source = (path: string) => readFileSync(new URL(path, import.meta.url), "utf8");
const codesIn = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].map((m) => m[1]!);

describe("the page's words", () => {
  it("has words for every code the seat service, the channels, the waiting room, chat, orders and sign-in define", () => {
    const orderSources = readdirSync(new URL("../../../libs/orders/src/", import.meta.url)).map((f) => source(`../../../libs/orders/src/${f}`)).join("\n");
    const authSources = readdirSync(new URL("../../../libs/auth/src/", import.meta.url)).map((f) => source(`../../../libs/auth/src/${f}`)).join("\n");
    const codes = new Set<string>([
      ...Object.keys(SeatErrorCode),
      ...FRAME_ERROR_REASONS,
      "rate_limited",
      "internal_error",
      "resync",
      ...codesIn(source("../../ws-node/src/channels/queue.ts"), /reason: "([a-z_]+)"/g),
      ...CHAT_ERROR_REASONS,
      ...codesIn(orderSources, /new OrderError\(\d+, "([a-z_]+)"/g),
      "database_unavailable",
      "order_outcome_unknown",
      "redis_unavailable",
      ...codesIn(authSources, /new AuthError\("([a-z_]+)"/g),
    ]);
    expect(codes.size).toBeGreaterThan(45);
    const missing = [...codes].filter((c) => !(c in REASON_WORDS));
    expect(missing, "codes without words in apps/api/src/pages/wording.js").toEqual([]);
    for (const r of holdReleaseReasons) expect(RELEASE_WORDS, `release reason ${r}`).toHaveProperty(r);
  });

  it("says seconds, never a placeholder or a code", () => {
    expect(explain({ reason: "relock_cooldown", message: "… after retry_after_ms", retry_after_ms: 4200 })).toBe("You let this seat go a moment ago; you can take it again in 5 s.");
    expect(explain({ reason: "rate_limited", retry_after_ms: 250 })).toBe("Too many requests at once; try again in 1 s.");
    expect(explain({ error: "sales_paused", message: "sales_paused" })).toMatch(/^Sales are paused by the box office/);
    expect(released("released_by_admin")).toBe("Your hold was released by the box office.");
    expect(released("expired")).toBe("Your hold ran out of time.");
    for (const [code, words] of Object.entries(REASON_WORDS as Record<string, string | ((e: unknown) => string)>)) {
      const text = typeof words === "function" ? words({ retry_after_ms: 3000 }) : words;
      expect(text, code).not.toMatch(/retry_after_ms|[a-z]+_[a-z]+/);
    }
  });
});

if (!hasChromium) console.warn(`page wording test skipped: no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`);

describe.skipIf(!hasChromium)("the page in a browser", () => {
  let w: OrdersWorld;
  let browser: Browser;
  let base: string;
  let admin: string;

  beforeAll(async () => {
    w = await startOrdersWorld();
    await w.app.listen({ host: "127.0.0.1", port: 0 });
    base = `http://127.0.0.1:${(w.app.server.address() as AddressInfo).port}`;
    admin = (await createUser(w.env, "admin")).token;
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await w?.close();
  });

  /** A signed-in buyer's page on the event, through the ws-node at `wsPort`. */
  async function buyerPage(eventId: string, wsPort: number, extra = ""): Promise<Page> {
    const buyer = await createUser(w.env);
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
    await page.addInitScript(([t, u]) => {
      localStorage.setItem("seatdrop.token", t!);
      localStorage.setItem("seatdrop.user", u!);
    }, [buyer.token, JSON.stringify({ id: buyer.id, username: "buyer" })]);
    await page.goto(`${base}/?event=${eventId}&ws=${encodeURIComponent(`ws://127.0.0.1:${wsPort}/socket`)}${extra}`);
    await page.waitForSelector('[data-testid="seats"][data-ready="true"]');
    return page;
  }

  /** An event with sections, rows and prices, as an organiser creates one through the API. */
  async function createSectioned(name: string, seats: { id: string; section: string; row: string; number: number; price: number }[]): Promise<string> {
    const r = await w.app.inject({
      method: "POST",
      url: "/api/events",
      headers: { authorization: `Bearer ${admin}` },
      payload: { name, description: "page test", location: "Hall", start_time: new Date(Date.now() + 86_400_000).toISOString(), end_time: new Date(Date.now() + 90_000_000).toISOString(), seats },
    });
    expect(r.statusCode, r.body).toBe(201);
    return (r.json() as { id: string }).id;
  }

  const ops = (eventId: string, action: "freeze" | "reopen") => w.app.inject({ method: "POST", url: `/api/ops/events/${eventId}/${action}`, headers: { authorization: `Bearer ${admin}` } });

  it("a frozen sale: a lock refused in words, a banner, Order stopped; the banner goes when sales reopen", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(2, 5));
    const page = await buyerPage(eventId, w.cluster.nodes[0]!.port);
    await clickSeat(page, "A_1");
    await waitSeat(page, "A_1", "mine");
    expect((await ops(eventId, "freeze")).statusCode).toBe(200);
    await clickSeat(page, "A_2");
    await page.waitForSelector('[data-testid="banner"][data-kind="frozen"]:visible');
    const status = (await page.textContent("#status")) ?? "";
    expect(status).toContain("Sales are paused by the box office");
    expect(status).not.toMatch(/sales_paused/);
    expect(await page.isDisabled('[data-testid="buy"]')).toBe(true);
    expect((await ops(eventId, "reopen")).statusCode).toBe(200);
    await page.waitForSelector('[data-testid="banner"]', { state: "hidden", timeout: 20_000 });
    expect(await page.isDisabled('[data-testid="buy"]')).toBe(false);
  }, 60_000);

  it("a page opened on a frozen event shows the banner at once", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 3));
    expect((await ops(eventId, "freeze")).statusCode).toBe(200);
    const page = await buyerPage(eventId, w.cluster.nodes[1]!.port);
    await page.waitForSelector('[data-testid="banner"][data-kind="frozen"]:visible');
  }, 60_000);

  it("while its ws-node is down: a banner, and seats cannot be chosen; live again once it is back", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 4));
    const port = await freePort();
    const start = () => startWsNode({ config: w.env.config, logger: createLogger("page-words-node", "silent"), port, nodeId: "page-words" });
    let node: WsNode = await start();
    try {
      const page = await buyerPage(eventId, port);
      await node.close();
      await page.waitForSelector('[data-testid="banner"][data-kind="offline"]:visible', { timeout: 20_000 });
      await clickSeat(page, "A_1");
      expect((await page.textContent("#status")) ?? "").toMatch(/^Reconnecting/);
      expect(await w.env.redis.hget(w.env.keys.event(eventId).state, "A_1")).toBeNull();
      node = await start();
      await page.waitForSelector('[data-testid="banner"]', { state: "hidden", timeout: 30_000 });
      await clickSeat(page, "A_1");
      await waitSeat(page, "A_1", "mine");
    } finally {
      await node.close();
    }
  }, 90_000);

  it("best available: the control holds a block in one row; without one it offers the split, taken seat by seat", async () => {
    const seats = [
      ...["A", "B"].flatMap((row) => Array.from({ length: 5 }, (_, n) => ({ id: `${row}_${n + 1}`, section: "floor", row, number: n + 1, price: 40 }))),
      ...Array.from({ length: 3 }, (_, n) => ({ id: `C_${n + 1}`, section: "balcony", row: "C", number: n + 1, price: 20 })),
    ];
    const eventId = await createSectioned("best", seats);
    const page = await buyerPage(eventId, w.cluster.nodes[0]!.port);
    const mine = () => heldSeats(page);
    await page.selectOption('[data-testid="best-count"]', "3");
    await page.selectOption('[data-testid="best-section"]', "floor");
    await page.click('[data-testid="best-button"]');
    await page.waitForFunction(() => window.seatMap.held().length === 3);
    const block = await mine();
    const rows = new Set(block.map((id) => id.split("_")[0]));
    const numbers = block.map((id) => Number(id.split("_")[1])).sort((x, y) => x - y);
    expect(rows.size, `one row: ${block.join(",")}`).toBe(1);
    expect(numbers[2]! - numbers[0]!, `adjacent: ${block.join(",")}`).toBe(2);
    expect((await page.textContent("#status")) ?? "").toMatch(/^Holding 3 seats together: Section floor, row A/);
    // Four seats up to 20 exist nowhere: said in words, no split.
    await page.selectOption('[data-testid="best-count"]', "4");
    await page.selectOption('[data-testid="best-section"]', "");
    await page.fill('[data-testid="best-max"]', "20");
    await page.click('[data-testid="best-button"]');
    await page.waitForSelector('[data-testid="status"]:has-text("Not that many seats together")');
    expect(await page.isHidden('[data-testid="best-split"]')).toBe(true);
    // Six together in the floor exist in no row any more: the split is offered, and taken.
    await page.fill('[data-testid="best-max"]', "");
    await page.selectOption('[data-testid="best-count"]', "6");
    await page.selectOption('[data-testid="best-section"]', "floor");
    await page.click('[data-testid="best-button"]');
    await page.waitForSelector('[data-testid="best-split-take"]:visible');
    await page.click('[data-testid="best-split-take"]');
    await page.waitForFunction(() => window.seatMap.held().length === 9, undefined, { timeout: 15_000 });
    expect((await mine()).filter((id) => id.startsWith("C_"))).toEqual([]);
  }, 60_000);

  it("picking another event drops the section filter of the last one", async () => {
    const seats = ["floor", "balcony"].flatMap((section, i) => Array.from({ length: 3 }, (_, n) => ({ id: `${"AB"[i]}_${n + 1}`, section, row: "AB"[i]!, number: n + 1, price: 20 })));
    const first = await createSectioned("sections", seats);
    const second = await createEvent(w.env, seatIdsGrid(1, 3));
    const page = await buyerPage(first, w.cluster.nodes[0]!.port, "&sections=balcony");
    expect(await seatCount(page)).toBe(3);
    await page.selectOption('[data-testid="event"]', second);
    await page.waitForFunction(() => window.seatMap.seatCount === 3 && window.seatMap.map.has("A_1"));
    await page.waitForSelector('[data-testid="seats"][data-ready="true"]');
    expect(new URL(page.url()).searchParams.get("sections")).toBeNull();
    expect((await page.textContent("#status")) ?? "").not.toMatch(/malformed|Cannot watch/);
  }, 60_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
