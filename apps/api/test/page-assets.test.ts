import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { buildApp, type ApiApp } from "../src/app.ts";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

/**
 * The seat-map page has no build step: its modules are static files. The map follower it imports is
 * the protocol library's own file, which the tests and the load generator use too, so the page must
 * get exactly that file.
 */

let env: TestEnv;
let app: ApiApp;
beforeAll(async () => {
  env = await createTestEnv();
  app = buildApp({ config: env.config, db: env.db, redis: env.redis, keys: env.keys, logger: createLogger("page-assets-test", "silent") });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await env.close();
});

describe("the seat-map page's modules", () => {
  it("serves the protocol library's map follower as JavaScript, the file the page imports", async () => {
    const res = await app.inject({ method: "GET", url: "/map-follower.js" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/javascript/);
    expect(res.body).toBe(readFileSync(fileURLToPath(new URL("../../../libs/protocol/src/map-follower.js", import.meta.url)), "utf8"));
    expect(res.body).toMatch(/export class SeatMapFollower/);
    const page = await app.inject({ method: "GET", url: "/seat-map.js" });
    expect(page.body).toContain('from "/map-follower.js"');
    // The page's words for every code (apps/api/test/page-plain-words.test.ts) are its own module.
    expect(page.body).toContain('from "/wording.js"');
    const wording = await app.inject({ method: "GET", url: "/wording.js" });
    expect(wording.statusCode).toBe(200);
    expect(wording.headers["content-type"]).toMatch(/^text\/javascript/);
    expect(wording.body).toBe(readFileSync(fileURLToPath(new URL("../src/pages/wording.js", import.meta.url)), "utf8"));
    // The canvas map (seat-canvas.js), imported the same way.
    expect(page.body).toContain('from "/seat-canvas.js"');
    const canvas = await app.inject({ method: "GET", url: "/seat-canvas.js" });
    expect(canvas.headers["content-type"]).toMatch(/^text\/javascript/);
    expect(canvas.body).toBe(readFileSync(fileURLToPath(new URL("../src/pages/seat-canvas.js", import.meta.url)), "utf8"));
  });
});
