import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEvent, createUser, seatIdsGrid } from "../../../test/support/cluster.ts";
import { startOrdersWorld, type OrdersWorld } from "./orders-harness.ts";

/**
 * `GET /api/events/:id/seats` (docs/reliability.md, round two, finding 2: the map was read and
 * encoded anew for every anonymous request): encoded once per (event, seq) and shared, moved
 * forward by the seat log between reads, gzipped for clients that accept it, always the map at the
 * event's current seq, and counted against the address's map reads.
 */
let w: OrdersWorld;
beforeAll(async () => {
  // Loopback (inject's default address) is exempt from per-address limits; the limit test reads from
  // documentation addresses (203.0.113.x).
  w = await startOrdersWorld({ LIMIT_MAP_READS_PER_IP: "3" });
});
afterAll(async () => {
  await w.close();
});

const read = (eventId: string, headers: Record<string, string> = {}, remoteAddress?: string) => w.app.inject({ method: "GET", url: `/api/events/${eventId}/seats`, headers, ...(remoteAddress ? { remoteAddress } : {}) });
type SeatMap = { event_id: string; seq: number; seats: { id: string; section: string | null; row: string | null; number: number | null; price: number; state: string }[] };

describe("the seat map read", () => {
  it("is the map at the current seq, in natural order with every field; repeated reads get the same bytes until a seat changes", async () => {
    const seatIds = seatIdsGrid(1, 12);
    const eventId = await createEvent(w.env, seatIds);
    const first = await read(eventId);
    expect(first.statusCode).toBe(200);
    expect(first.headers["content-type"]).toContain("application/json");
    const map = first.json() as SeatMap;
    expect(map.event_id).toBe(eventId);
    expect(map.seats.map((s) => s.id)).toEqual(seatIds); // A_2 before A_10
    expect(map.seats[0]).toEqual({ id: "A_1", section: null, row: null, number: null, price: 10, state: "available" });
    expect((await read(eventId)).body).toBe(first.body);

    const user = await createUser(w.env);
    await w.cluster.seats.lock({ eventId, userId: user.id, seatId: "A_10" });
    await w.cluster.seats.setSeatState({ eventId, seatId: "A_3", action: "reserve" });
    const after = (await read(eventId)).json() as SeatMap;
    expect(after.seq).toBe(map.seq + 2);
    expect(Object.fromEntries(after.seats.filter((s) => s.state !== "available").map((s) => [s.id, s.state]))).toEqual({ A_3: "reserved", A_10: "locked" });
  });

  it("is gzipped for a client that accepts it, the same JSON; with Vary: Accept-Encoding", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(3, 40));
    const plain = await read(eventId);
    const zipped = await read(eventId, { "accept-encoding": "gzip, deflate, br" });
    expect(zipped.statusCode).toBe(200);
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    expect(zipped.headers.vary).toContain("accept-encoding");
    expect(gunzipSync(zipped.rawPayload).toString("utf8")).toBe(plain.body);
    // The layout too, under its weak ETag (another representation of the same bytes), which If-None-Match still matches.
    const layout = await w.app.inject({ method: "GET", url: `/api/events/${eventId}/layout` });
    const layoutGz = await w.app.inject({ method: "GET", url: `/api/events/${eventId}/layout`, headers: { "accept-encoding": "gzip" } });
    expect(layoutGz.headers["content-encoding"]).toBe("gzip");
    expect(layoutGz.headers.etag).toBe(`W/${layout.headers.etag as string}`);
    expect(gunzipSync(layoutGz.rawPayload).toString("utf8")).toBe(layout.body);
    const revalidated = await w.app.inject({ method: "GET", url: `/api/events/${eventId}/layout`, headers: { "accept-encoding": "gzip", "if-none-match": layoutGz.headers.etag as string } });
    expect(revalidated.statusCode).toBe(304);
    expect(zipped.rawPayload.length).toBeLessThan(plain.body.length / 5);
    expect(plain.headers["content-encoding"]).toBeUndefined();
  });

  it("follows the seat log between reads, slice by slice, and reads a snapshot when the log no longer reaches back", async () => {
    const seatIds = seatIdsGrid(26, 50); // 1,300 seats: three of the cache's 512-seat slices
    const eventId = await createEvent(w.env, seatIds);
    const seats = w.cluster.seats;
    /** What Redis says every seat is, as the map should show it. */
    const truth = async () => {
      const snap = await seats.snapshot({ eventId });
      return { seq: snap.seq, states: seatIds.map((id) => snap.taken.get(id)?.state ?? "available") };
    };
    // Each look reads the map plainly and gzipped (the gzip is built from per-slice deflates kept between reads).
    const shown = async () => {
      const plain = await read(eventId);
      const zipped = await read(eventId, { "accept-encoding": "gzip" });
      expect(gunzipSync(zipped.rawPayload).toString("utf8")).toBe(plain.body);
      const m = plain.json() as SeatMap;
      return { seq: m.seq, states: m.seats.map((s) => s.state) };
    };
    expect(await shown()).toEqual(await truth());
    const user = await createUser(w.env);
    // Changes in the first and last slices, and one undone, between two reads.
    await seats.setSeatState({ eventId, seatId: "A_1", action: "reserve" });
    await seats.setSeatState({ eventId, seatId: "Z_50", action: "reserve" });
    await seats.setSeatState({ eventId, seatId: "Z_50", action: "pay" });
    await seats.lock({ eventId, userId: user.id, seatId: "K_7" });
    await seats.setSeatState({ eventId, seatId: "M_3", action: "reserve" });
    await seats.setSeatState({ eventId, seatId: "M_3", action: "unreserve" });
    expect(await shown()).toEqual(await truth());
    await seats.unlock({ eventId, userId: user.id, seatId: "K_7" });
    expect(await shown()).toEqual(await truth());
    // The log lost (trimmed, or Redis lost it): the next read cannot follow it and takes a snapshot.
    await w.env.redis.del(w.env.keys.event(eventId).log);
    await seats.setSeatState({ eventId, seatId: "B_9", action: "reserve" });
    const after = await shown();
    expect(after).toEqual(await truth());
    expect(after.states[seatIds.indexOf("B_9")]).toBe("reserved");
  });

  it("counts each full read against the address's limit (429 with Retry-After past it); a layout's 304 is free", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 5));
    for (let i = 0; i < 3; i++) expect((await read(eventId, {}, "203.0.113.7")).statusCode).toBe(200);
    const refused = await read(eventId, {}, "203.0.113.7");
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ error: "rate_limited" });
    expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
    // The layout is a map read too; another address still has its own count.
    const layout = (ip: string, headers: Record<string, string> = {}) => w.app.inject({ method: "GET", url: `/api/events/${eventId}/layout`, remoteAddress: ip, headers });
    expect((await layout("203.0.113.7")).statusCode).toBe(429);
    const first = await layout("203.0.113.8");
    expect(first.statusCode).toBe(200);
    for (let i = 0; i < 5; i++) expect((await layout("203.0.113.8", { "if-none-match": first.headers.etag as string })).statusCode).toBe(304);
    expect((await read(eventId, {}, "203.0.113.8")).statusCode).toBe(200);
    expect((await read(eventId, {}, "203.0.113.8")).statusCode).toBe(200);
    expect((await read(eventId, {}, "203.0.113.8")).statusCode).toBe(429);
  });

  it("answers 404 for an event that does not exist", async () => {
    const res = await read("00000000-0000-4000-8000-00000000f00d");
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: "not_found" });
  });
});
