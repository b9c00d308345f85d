import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { buildApp, type ApiApp } from "../src/app.ts";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

/**
 * The API logs one line per answered request (method, path without its query, status, ms), not
 * Fastify's two, and health and metrics probes only at debug: a development log reads as what
 * happened, not as load balancer noise.
 */
let env: TestEnv;
let app: ApiApp;
const lines: Record<string, unknown>[] = [];
beforeAll(async () => {
  env = await createTestEnv();
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  app = buildApp({ config: env.config, db: env.db, redis: env.redis, keys: env.keys, logger: createLogger("access-log-test", "info", sink) });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await env.close();
});

describe("access log", () => {
  it("one info line per request, with status and time; the query string left out; probes quiet", async () => {
    lines.length = 0;
    expect((await app.inject({ method: "GET", url: "/api/events?who=secret@example.com" })).statusCode).toBe(200);
    expect((await app.inject({ method: "GET", url: "/api/events/not-a-uuid" })).statusCode).toBe(422);
    for (const url of ["/healthz", "/readyz", "/healthz"]) await app.inject({ method: "GET", url });
    await new Promise((r) => setImmediate(r));
    const requests = lines.filter((l) => l.msg === "request");
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({ method: "GET", url: "/api/events", status: 200, module: "http" });
    expect(typeof requests[0]!.ms).toBe("number");
    expect(requests[1]).toMatchObject({ url: "/api/events/not-a-uuid", status: 422 });
    expect(lines.some((l) => l.msg === "incoming request" || l.msg === "request completed")).toBe(false);
    expect(JSON.stringify(lines)).not.toContain("secret@example.com");
  });
});
