import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEvent, createUser, seatIdsGrid } from "../../../test/support/cluster.ts";
import { startOrdersWorld, type OrdersWorld } from "./orders-harness.ts";

/**
 * `GET /api/events/:id/seats` (issue 17, finding 2: the map was read and encoded anew for every
 * anonymous request): encoded once per (event, seq) and shared, gzipped for clients that accept it,
 * and always the map at the event's current seq.
 */
let w: OrdersWorld;
beforeAll(async () => {
  w = await startOrdersWorld();
});
afterAll(async () => {
  await w.close();
});

const read = (eventId: string, headers: Record<string, string> = {}) => w.app.inject({ method: "GET", url: `/api/events/${eventId}/seats`, headers });
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
    expect(zipped.rawPayload.length).toBeLessThan(plain.body.length / 5);
    expect(plain.headers["content-encoding"]).toBeUndefined();
  });

  it("answers 404 for an event that does not exist", async () => {
    const res = await read("00000000-0000-4000-8000-00000000f00d");
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: "not_found" });
  });
});
