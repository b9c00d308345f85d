import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminToken, bearer, startApi, type ApiHarness } from "./api-harness.ts";

let h: ApiHarness;
let eventId: string;

beforeAll(async () => {
  h = await startApi();
  const admin = await adminToken(h);
  const res = await h.app.inject({
    method: "POST",
    url: "/api/events",
    headers: bearer(admin),
    payload: {
      name: "layout",
      description: "",
      location: "Hall",
      start_time: "2030-01-01T19:00:00Z",
      end_time: "2030-01-01T23:00:00Z",
      seats: [
        { id: "F_10", section: "floor", row: "F", number: 10, price: 80 },
        { id: "F_2", section: "floor", row: "F", number: 2, price: 80 },
        { id: "B_1", section: "balcony", row: "B", number: 1, price: 45.5 },
        { id: "X_1", price: 10 },
      ],
    },
  });
  expect(res.statusCode).toBe(201);
  eventId = (res.json() as { id: string }).id;
});
afterAll(async () => {
  await h.close();
});

describe("GET /api/events/:id/layout", () => {
  it("answers the seats, sections, rows, numbers and prices with a strong ETag and Cache-Control", async () => {
    const res = await h.app.inject({ method: "GET", url: `/api/events/${eventId}/layout` });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.json()).toEqual({
      event_id: eventId,
      seat_count: 4,
      sections: ["balcony", "floor"],
      seats: [
        { id: "B_1", section: "balcony", row: "B", number: 1, price: 45.5 },
        { id: "F_2", section: "floor", row: "F", number: 2, price: 80 },
        { id: "F_10", section: "floor", row: "F", number: 10, price: 80 },
        { id: "X_1", price: 10 },
      ],
    });
    const etag = res.headers.etag as string;
    expect(etag).toMatch(/^"[^"]+"$/); // strong: no W/ prefix
    expect(res.headers["cache-control"]).toMatch(/max-age=\d+/);
    // The same layout gives the same tag (it is the content's hash, not a timestamp).
    const again = await h.app.inject({ method: "GET", url: `/api/events/${eventId}/layout` });
    expect(again.headers.etag).toBe(etag);
  });

  it("a repeat fetch with If-None-Match gets 304 and no body; another tag gets the layout", async () => {
    const first = await h.app.inject({ method: "GET", url: `/api/events/${eventId}/layout` });
    const etag = first.headers.etag as string;
    const repeat = await h.app.inject({ method: "GET", url: `/api/events/${eventId}/layout`, headers: { "if-none-match": etag } });
    expect(repeat.statusCode).toBe(304);
    expect(repeat.body).toBe("");
    expect(repeat.headers.etag).toBe(etag);
    const listed = await h.app.inject({ method: "GET", url: `/api/events/${eventId}/layout`, headers: { "if-none-match": `"nope", ${etag}` } });
    expect(listed.statusCode).toBe(304);
    const stale = await h.app.inject({ method: "GET", url: `/api/events/${eventId}/layout`, headers: { "if-none-match": '"something-else"' } });
    expect(stale.statusCode).toBe(200);
    expect((stale.json() as { seat_count: number }).seat_count).toBe(4);
  });

  it("answers 404 for an unknown event and 422 for a malformed id, and is in the OpenAPI document", async () => {
    const missing = await h.app.inject({ method: "GET", url: "/api/events/00000000-0000-4000-8000-000000000000/layout" });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: "not_found" });
    const bad = await h.app.inject({ method: "GET", url: "/api/events/not-an-id/layout" });
    expect(bad.statusCode).toBe(422);
    const doc = (await h.app.inject({ method: "GET", url: "/openapi.json" })).json() as { paths: Record<string, { get?: { responses: Record<string, unknown> } }> };
    const op = doc.paths["/api/events/{id}/layout"]?.get;
    expect(op).toBeDefined();
    expect(Object.keys(op!.responses)).toEqual(expect.arrayContaining(["200", "304", "404"]));
  });
});
