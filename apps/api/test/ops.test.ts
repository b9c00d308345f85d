import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { createEvent, createUser, seatIdsGrid } from "../../../test/support/cluster.ts";
import { connectRedis } from "@seatdrop/redis";
import { buildApp } from "../src/app.ts";
import { startApi, type ApiHarness } from "./api-harness.ts";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApi();
});
afterAll(async () => {
  await h.close();
});

describe("health, readiness, metrics", () => {
  it("GET /healthz answers ok", async () => {
    const res = await h.app.inject({ method: "GET", url: "/healthz" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ok" });
  });

  it("GET /readyz answers ok when PostgreSQL and Redis answer", async () => {
    const res = await h.app.inject({ method: "GET", url: "/readyz" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ok", checks: { postgres: "ok", redis: "ok" } });
  });

  it("GET /readyz answers 503 naming Redis when Redis cannot be reached", async () => {
    // A real client pointed at a port nothing listens on, not a mock: the probe sees a genuine refusal.
    const deadRedis = connectRedis("redis://127.0.0.1:1", "command", { retryStrategy: () => null, maxRetriesPerRequest: 0 });
    deadRedis.on("error", () => {});
    const app = buildApp({ ...h.env, redis: deadRedis, logger: createLogger("api-test", "silent") });
    try {
      const res = await app.inject({ method: "GET", url: "/readyz" });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ status: "unavailable", error: "not_ready", checks: { postgres: "ok", redis: "down" } });
    } finally {
      await app.close();
      deadRedis.disconnect();
    }
  });

  it("while Redis cannot be reached, routes that need it answer 503 redis_unavailable with Retry-After, never 500", async () => {
    // ioredis as the apps configure it (retries, then MaxRetriesPerRequestError), pointed at a port nothing listens on.
    const deadRedis = connectRedis("redis://127.0.0.1:1", "command", { retryStrategy: (n) => (n > 20 ? null : 20) });
    deadRedis.on("error", () => {});
    const app = buildApp({ ...h.env, redis: deadRedis, logger: createLogger("api-test", "silent") });
    try {
      const user = await createUser(h.env);
      const eventId = await createEvent(h.env, seatIdsGrid(1, 2));
      const answers = [
        await app.inject({ method: "POST", url: "/api/orders", headers: { authorization: `Bearer ${user.token}` }, payload: { event_id: eventId } }),
        await app.inject({ method: "GET", url: `/api/events/${eventId}/seats` }),
      ];
      for (const res of answers) {
        expect(res.statusCode, res.body).toBe(503);
        expect(res.headers["retry-after"]).toBe("2");
        expect(res.json()).toMatchObject({ error: "redis_unavailable" });
      }
    } finally {
      await app.close();
      deadRedis.disconnect();
    }
  });

  it("GET /metrics serves Prometheus text including the request counter, to the metrics token only", async () => {
    await h.app.inject({ method: "GET", url: "/healthz" });
    const res = await h.app.inject({ method: "GET", url: "/metrics", headers: { authorization: `Bearer ${h.env.config.METRICS_TOKEN}` } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/plain");
    expect(res.body).toContain('sdc_http_requests_total{route="/healthz",status="200"}');
    // The API's own metrics only: no ws-node or worker series shown as zeros.
    expect(res.body).not.toContain("sdc_ws_frames_in_total");
    expect(res.body).not.toContain("sdc_queue_jobs");
    for (const authorization of [undefined, "Bearer wrong-token", `Basic ${h.env.config.METRICS_TOKEN}`]) {
      const refused = await h.app.inject({ method: "GET", url: "/metrics", headers: authorization ? { authorization } : {} });
      expect(refused.statusCode, String(authorization)).toBe(401);
      expect(refused.json()).toMatchObject({ error: "unauthorized" });
      expect(refused.body).not.toContain("sdc_");
    }
  });

  it("answers unknown routes with a JSON 404", async () => {
    const res = await h.app.inject({ method: "GET", url: "/nope?x=1" });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: "not_found", message: "no route GET /nope" });
  });
});

describe("GET /openapi.json", () => {
  it("lists every route with its schemas and the bearer security scheme", async () => {
    const res = await h.app.inject({ method: "GET", url: "/openapi.json" });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown>; security?: unknown }>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/users/create",
        "/api/users/sign_in",
        "/api/users/sign_out",
        "/api/users/{id}",
        "/api/users/update",
        "/api/users/delete_user/{id}",
        "/api/events",
        "/api/events/{id}",
      ]),
    );
    expect(doc.paths["/api/users/create"]?.post?.requestBody).toBeDefined();
    expect(Object.keys(doc.paths["/api/users/create"]?.post?.responses ?? {})).toEqual(expect.arrayContaining(["201", "409", "422"]));
    expect(doc.paths["/api/events"]?.post?.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(doc.paths["/api/events"] ?? {})).toEqual(expect.arrayContaining(["get", "post"]));
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.paths["/openapi.json"]).toBeUndefined();
  });
});
