import { createHash, randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { and, count, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Browser } from "playwright-core";
import { events, seatAudit, type WaitingRoomRecord } from "@seatdrop/db";
import { drawOrder } from "@seatdrop/queue";
import { createUser } from "../../../test/support/cluster.ts";
import { adminToken, bearer, startApi, type ApiHarness } from "./api-harness.ts";
import { CHROMIUM, hasChromium, launchChromium } from "../../../test/support/browser.ts";

/**
 * The waiting room's HTTP side against real PostgreSQL and Redis: the room as part of an
 * event (POST and PATCH /api/events, the views), its public status and draw, the ops control and
 * the ops page. The seed is in no answer before the draw; afterwards SHA-256(seed) is the
 * commitment every earlier answer showed. The ws-node side (joins, ticks on a timer) is tested in
 * apps/ws-node; here the room's steps are called on `app.rooms` directly.
 */
let h: ApiHarness;
let admin: string;
let adminId: string;
/** Every answer body of this file, to show that no room's seed was in any before its draw. */
const bodies: string[] = [];

beforeAll(async () => {
  h = await startApi();
  admin = await adminToken(h);
  adminId = (JSON.parse(Buffer.from(admin.split(".")[1]!, "base64url").toString()) as { sub: string }).sub;
});
afterAll(async () => {
  await h?.close();
});

type Method = "GET" | "POST" | "PATCH";
async function call(method: Method, url: string, token: string | null = admin, payload?: unknown, headers: Record<string, string> = {}) {
  const res = await h.app.inject({ method, url, headers: { ...(token ? bearer(token) : {}), ...headers }, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });
  bodies.push(res.body);
  return res;
}

const at = (msFromNow: number) => new Date(Date.now() + msFromNow).toISOString();
const HOUR = 3_600_000;

function eventBody(overrides: Record<string, unknown> = {}) {
  return {
    name: "drop",
    description: "a drop with a waiting room",
    location: "Antalya",
    start_time: at(30 * 24 * HOUR),
    end_time: at(30 * 24 * HOUR + 3 * HOUR),
    sales_open_at: at(24 * HOUR),
    seats: [{ id: "A_1", price: 10 }, { id: "A_2", price: 10 }, { id: "A_3", price: 10 }, { id: "A_4", price: 10 }],
    ...overrides,
  };
}

/** Creates an event through the API; returns its id. */
async function createEvent(overrides: Record<string, unknown> = {}): Promise<string> {
  const res = await call("POST", "/api/events", admin, eventBody(overrides));
  expect(res.statusCode, res.body).toBe(201);
  return (res.json() as { id: string }).id;
}

async function storedRoom(eventId: string): Promise<WaitingRoomRecord | null> {
  const [row] = await h.env.db.db.select({ room: events.waitingRoom }).from(events).where(eq(events.id, eventId));
  return row!.room;
}

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
const auditRows = (eventId: string, action: string) => h.env.db.db.select().from(seatAudit).where(and(eq(seatAudit.eventId, eventId), eq(seatAudit.action, action)));

/** A 422 naming exactly this one field, in the project's error shape. */
function expectFieldError(res: { statusCode: number; body: string; json(): unknown }, field: string) {
  expect(res.statusCode, res.body).toBe(422);
  const body = res.json() as { error: string; message: string; errors: { field: string; message: string }[] };
  expect(body.error).toBe("validation_failed");
  expect(body.errors.map((e) => e.field), res.body).toEqual([field]);
  expect(body.message.startsWith(`${field}: `), body.message).toBe(true);
  return body;
}

describe("POST /api/events with a waiting_room", () => {
  it("stores the room with its secrets made once; every view shows settings, commitment and challenge, never the seed", async () => {
    const opensAt = at(HOUR);
    const res = await call("POST", "/api/events", admin, eventBody({ waiting_room: { opens_at: opensAt, turn_ms: 120_000, max_active: 50, pow_bits: 8 } }));
    expect(res.statusCode, res.body).toBe(201);
    const view = res.json() as { id: string; waiting_room: Record<string, unknown> };
    const stored = (await storedRoom(view.id))!;
    expect(stored).toMatchObject({ opens_at: opensAt, turn_ms: 120_000, max_active: 50, pow_bits: 8 });
    expect(stored.seed).toMatch(/^[0-9a-f]{64}$/);
    expect(sha256(stored.seed)).toBe(stored.commitment);
    expect(stored.challenge).toMatch(/^[0-9a-f]{32}$/);
    const expected = { opens_at: opensAt, turn_ms: 120_000, max_active: 50, pow_bits: 8, commitment: stored.commitment, challenge: stored.challenge };
    expect(view.waiting_room).toEqual(expected);

    const one = await call("GET", `/api/events/${view.id}`, null);
    expect(one.json().waiting_room).toEqual(expected);
    const list = await call("GET", "/api/events?limit=500", null);
    const listed = (list.json() as { events: { id: string; waiting_room: unknown }[] }).events;
    expect(listed.find((e) => e.id === view.id)?.waiting_room).toEqual(expected);
    const status = await call("GET", `/api/events/${view.id}/waiting_room`, null);
    expect(status.statusCode, status.body).toBe(200);
    expect(status.json()).toMatchObject({ state: "not_open", commitment: stored.commitment, seed: null, opens_at: opensAt, turn_ms: 120_000, max_active: 50, pow_bits: 8, challenge: stored.challenge });
    for (const body of [res.body, one.body, list.body, status.body]) expect(body).not.toContain(stored.seed);

    // Defaults; an event without a room shows null.
    const plain = await createEvent({ waiting_room: { opens_at: opensAt } });
    expect((await call("GET", `/api/events/${plain}`, null)).json().waiting_room).toMatchObject({ turn_ms: 600_000, max_active: null, pow_bits: 0 });
    const none = await createEvent();
    expect((await call("GET", `/api/events/${none}`, null)).json().waiting_room).toBeNull();
    expect((await call("GET", "/api/events?limit=500", null)).json().events.find((e: { id: string }) => e.id === none).waiting_room).toBeNull();
    expect(await storedRoom(none)).toBeNull();
  });

  it("422 naming the field: no sales_open_at, opens_at not before it, bad types and bounds; nothing stored", async () => {
    const eventCount = async () => (await h.env.db.db.select({ n: count() }).from(events))[0]!.n;
    const before = await eventCount();
    const room = (r: Record<string, unknown>) => ({ waiting_room: { opens_at: at(HOUR), ...r } });
    const { sales_open_at: salesOpenAt, ...noSales } = eventBody();
    const missing = await call("POST", "/api/events", admin, { ...noSales, ...room({}) });
    expect(expectFieldError(missing, "sales_open_at").message).toContain("waiting_room");
    expectFieldError(await call("POST", "/api/events", admin, eventBody({ sales_open_at: salesOpenAt, waiting_room: { opens_at: salesOpenAt } })), "waiting_room.opens_at");
    const late = expectFieldError(await call("POST", "/api/events", admin, eventBody({ sales_open_at: salesOpenAt, waiting_room: { opens_at: at(25 * HOUR) } })), "waiting_room.opens_at");
    expect(late.message).toContain("before sales_open_at");
    const cases: [Record<string, unknown>, string][] = [
      [{ waiting_room: { turn_ms: 60_000 } }, "waiting_room.opens_at"],
      [room({ opens_at: "tomorrow" }), "waiting_room.opens_at"],
      [room({ opens_at: 1_900_000_000 }), "waiting_room.opens_at"],
      [room({ pow_bits: 25 }), "waiting_room.pow_bits"],
      [room({ pow_bits: -1 }), "waiting_room.pow_bits"],
      [room({ pow_bits: 1.5 }), "waiting_room.pow_bits"],
      [room({ pow_bits: "3" }), "waiting_room.pow_bits"],
      [room({ turn_ms: 999 }), "waiting_room.turn_ms"],
      [room({ turn_ms: 86_400_001 }), "waiting_room.turn_ms"],
      [room({ turn_ms: "600000" }), "waiting_room.turn_ms"],
      [room({ max_active: 0 }), "waiting_room.max_active"],
      [room({ max_active: "10" }), "waiting_room.max_active"],
      [{ waiting_room: "yes" }, "waiting_room"],
    ];
    for (const [overrides, field] of cases) expectFieldError(await call("POST", "/api/events", admin, eventBody(overrides)), field);
    expect(await eventCount()).toBe(before);
  });
});

describe("PATCH /api/events/:id and the waiting room", () => {
  it("adds a room (secrets made then), changes it keeping seed, commitment and challenge, and tells Redis", async () => {
    const eventId = await createEvent();
    const added = await call("PATCH", `/api/events/${eventId}`, admin, { waiting_room: { opens_at: at(HOUR), pow_bits: 4 } });
    expect(added.statusCode, added.body).toBe(200);
    const first = (await storedRoom(eventId))!;
    expect(added.json().waiting_room).toEqual({ opens_at: first.opens_at, turn_ms: 600_000, max_active: null, pow_bits: 4, commitment: first.commitment, challenge: first.challenge });
    expect(sha256(first.seed)).toBe(first.commitment);
    expect(added.body).not.toContain(first.seed);

    // Redis has the room (a status read loads it); a PATCH reaches its meta, which the ticking node reads.
    expect((await call("GET", `/api/events/${eventId}/waiting_room`, null)).statusCode).toBe(200);
    const meta = h.env.keys.room(eventId).meta;
    expect(await h.env.redis.hget(meta, "turnMs")).toBe("600000");
    const opensLater = at(2 * HOUR);
    const changed = await call("PATCH", `/api/events/${eventId}`, admin, { waiting_room: { turn_ms: 30_000, max_active: 10, opens_at: opensLater } });
    expect(changed.statusCode, changed.body).toBe(200);
    const second = (await storedRoom(eventId))!;
    expect(second).toEqual({ ...first, opens_at: opensLater, turn_ms: 30_000, max_active: 10 });
    expect(changed.json().waiting_room).toMatchObject({ commitment: first.commitment, challenge: first.challenge, turn_ms: 30_000, max_active: 10, pow_bits: 4 });
    expect(await h.env.redis.hmget(meta, "turnMs", "maxActive", "opensAt", "commitment")).toEqual(["30000", "10", String(Date.parse(opensLater)), first.commitment]);
    // Fields left out are kept; a name change leaves the room alone.
    expect((await call("PATCH", `/api/events/${eventId}`, admin, { waiting_room: { max_active: null } })).json().waiting_room).toMatchObject({ max_active: null, turn_ms: 30_000 });
    expect((await call("PATCH", `/api/events/${eventId}`, admin, { name: "renamed" })).json().waiting_room).toMatchObject({ commitment: first.commitment, turn_ms: 30_000 });
    expect((await storedRoom(eventId))!.seed).toBe(first.seed);
  });

  it("422 naming the field, checked against the stored event: no sales_open_at, opens_at not before it, adding without opens_at, bad types", async () => {
    const { sales_open_at: _s, ...noSales } = eventBody();
    const res = await call("POST", "/api/events", admin, noSales);
    const withoutSales = (res.json() as { id: string }).id;
    expectFieldError(await call("PATCH", `/api/events/${withoutSales}`, admin, { waiting_room: { opens_at: at(HOUR) } }), "sales_open_at");
    const eventId = await createEvent({ sales_open_at: at(5 * HOUR) });
    expectFieldError(await call("PATCH", `/api/events/${eventId}`, admin, { waiting_room: { pow_bits: 1 } }), "waiting_room.opens_at");
    expectFieldError(await call("PATCH", `/api/events/${eventId}`, admin, { waiting_room: { opens_at: at(6 * HOUR) } }), "waiting_room.opens_at");
    expectFieldError(await call("PATCH", `/api/events/${eventId}`, admin, { waiting_room: { opens_at: at(HOUR), pow_bits: 99 } }), "waiting_room.pow_bits");
    expectFieldError(await call("PATCH", `/api/events/${eventId}`, admin, { waiting_room: { opens_at: at(HOUR), turn_ms: "long" } }), "waiting_room.turn_ms");
    expect(await storedRoom(eventId)).toBeNull();
    // With a room: a later opens_at is still checked against the stored sales_open_at.
    expect((await call("PATCH", `/api/events/${eventId}`, admin, { waiting_room: { opens_at: at(HOUR) } })).statusCode).toBe(200);
    expectFieldError(await call("PATCH", `/api/events/${eventId}`, admin, { waiting_room: { opens_at: at(5 * HOUR) } }), "waiting_room.opens_at");
    // The REST body names its own fields (the chat service's update_event puts them under `event.`).
    expectFieldError(await call("PATCH", `/api/events/${eventId}`, admin, { start_time: "2030-02-30 10:00:00" }), "start_time");
    expectFieldError(await call("POST", "/api/events/update_event", admin, { id: eventId, event: { start_time: "2030-02-30 10:00:00" } }), "event.start_time");
  });

  it("null removes a room before it opens; once it opened it can neither go nor move", async () => {
    const future = await createEvent({ waiting_room: { opens_at: at(HOUR) } });
    const removed = await call("PATCH", `/api/events/${future}`, admin, { waiting_room: null });
    expect(removed.statusCode, removed.body).toBe(200);
    expect(removed.json().waiting_room).toBeNull();
    expect(await storedRoom(future)).toBeNull();
    expect((await call("GET", `/api/events/${future}/waiting_room`, null)).json()).toMatchObject({ error: "not_found", message: "this event has no waiting room" });

    const opensAt = at(-60_000);
    const open = await createEvent({ waiting_room: { opens_at: opensAt } });
    const refused = expectFieldError(await call("PATCH", `/api/events/${open}`, admin, { waiting_room: null }), "waiting_room");
    expect(refused.message).toContain("opened");
    expectFieldError(await call("PATCH", `/api/events/${open}`, admin, { waiting_room: { opens_at: at(HOUR) } }), "waiting_room.opens_at");
    expect((await storedRoom(open))?.opens_at).toBe(opensAt);
    // Other settings of an open room may change.
    expect((await call("PATCH", `/api/events/${open}`, admin, { waiting_room: { turn_ms: 60_000 } })).statusCode).toBe(200);
  });

  it("the chat service's create_event and update_event cannot set a room (their schemas do not check one)", async () => {
    const seed = { name: "seed", description: "d", location: "l", start_time: "2030-06-01 18:00:00", end_time: "2030-06-01 22:00:00" };
    const unchecked = { opens_at: "2030-01-01T00:00:00Z", pow_bits: 1000, turn_ms: -5 };
    const created = await call("POST", "/api/events/create_event", admin, { event: { ...seed, waiting_room: unchecked } });
    expect(created.statusCode, created.body).toBe(201);
    const id = (created.json() as { id: string }).id;
    expect(await storedRoom(id)).toBeNull();
    const updated = await call("POST", "/api/events/update_event", admin, { id, event: { name: "seed 2", waiting_room: unchecked } });
    expect(updated.statusCode, updated.body).toBe(200);
    expect(updated.json()).toMatchObject({ name: "seed 2", waiting_room: null });
    expect(await storedRoom(id)).toBeNull();
  });
});

describe("GET /api/events/:id/waiting_room and …/draw", () => {
  it("404 for an unknown event or one without a room (saying which), 422 for a malformed id, 409 not_drawn before the draw", async () => {
    const unknown = randomUUID();
    for (const path of ["waiting_room", "waiting_room/draw"]) {
      const res = await call("GET", `/api/events/${unknown}/${path}`, null);
      expect(res.statusCode, path).toBe(404);
      expect(res.json(), path).toEqual({ error: "not_found", message: "event not found" });
      expectFieldError(await call("GET", `/api/events/nope/${path}`, null), "id");
    }
    const none = await createEvent();
    for (const path of ["waiting_room", "waiting_room/draw"]) {
      const res = await call("GET", `/api/events/${none}/${path}`, null);
      expect(res.statusCode, path).toBe(404);
      expect(res.json(), path).toEqual({ error: "not_found", message: "this event has no waiting room" });
    }
    const salesOpenAt = at(24 * HOUR);
    const withRoom = await createEvent({ sales_open_at: salesOpenAt, waiting_room: { opens_at: at(-60_000) } });
    const draw = await call("GET", `/api/events/${withRoom}/waiting_room/draw`, null);
    expect(draw.statusCode).toBe(409);
    expect(draw.json()).toMatchObject({ error: "not_drawn" });
    expect(draw.json().message).toContain(salesOpenAt);
    // Upper-case ids are the same event.
    expect((await call("GET", `/api/events/${withRoom.toUpperCase()}/waiting_room`, null)).json()).toMatchObject({ state: "pre_queue" });
  });

  it("before the draw no answer has the seed; after it the seed is published, SHA-256(seed) = commitment, and the keys are the entrants' in queue order", async () => {
    const eventId = await createEvent({ waiting_room: { opens_at: at(-60_000) } });
    const commitment = (await call("GET", `/api/events/${eventId}`, null)).json().waiting_room.commitment as string;
    const status = await call("GET", `/api/events/${eventId}/waiting_room`, null);
    expect(status.json()).toMatchObject({ state: "pre_queue", seed: null, commitment, waiting: 0, admitted: 0, paused: false });
    const entrants = [randomUUID(), randomUUID(), randomUUID()];
    for (const u of entrants) expect(await h.app.rooms.join(eventId, u)).toMatchObject({ state: "pre_queue" });
    await expect.poll(async () => (await call("GET", `/api/events/${eventId}/waiting_room`, null)).json().waiting, { timeout: 5000 }).toBe(3);
    expect((await call("GET", `/api/events/${eventId}/waiting_room/draw`, null)).statusCode).toBe(409);
    const seed = (await storedRoom(eventId))!.seed;
    expect(bodies.filter((b) => b.includes(seed))).toEqual([]);

    expect(await h.app.rooms.draw(eventId)).toBe(3);
    // "Not drawn" was remembered for a second at most.
    await expect.poll(async () => (await call("GET", `/api/events/${eventId}/waiting_room/draw`, null)).statusCode, { timeout: 5000 }).toBe(200);
    const drawn = await call("GET", `/api/events/${eventId}/waiting_room/draw`, null);
    expect(drawn.statusCode, drawn.body).toBe(200);
    const d = drawn.json() as { seed: string; keys: string[]; drawn_at: string };
    expect(d.seed).toBe(seed);
    expect(sha256(d.seed)).toBe(commitment);
    expect(d.keys).toEqual(drawOrder(d.seed, entrants).keys);
    expect([...d.keys].sort()).toEqual(d.keys);
    expect(Date.parse(d.drawn_at)).toBeGreaterThan(Date.now() - 60_000);
    const etag = drawn.headers.etag as string;
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect((await call("GET", `/api/events/${eventId}/waiting_room/draw`, null, undefined, { "if-none-match": etag })).statusCode).toBe(304);
    await expect.poll(async () => (await call("GET", `/api/events/${eventId}/waiting_room`, null)).json(), { timeout: 5000 }).toMatchObject({ state: "running", seed, commitment, waiting: 3 });
  });
});

describe("POST /api/ops/events/:id/waiting_room", () => {
  it("is admin only, 404 for an unknown event or one without a room, 422 naming the field", async () => {
    const eventId = await createEvent({ waiting_room: { opens_at: at(-60_000) } });
    const url = `/api/ops/events/${eventId}/waiting_room`;
    expect((await call("POST", url, null, { paused: true })).statusCode).toBe(401);
    expect((await call("POST", url, (await createUser(h.env)).token, { paused: true })).statusCode).toBe(403);
    expect((await call("POST", url, (await createUser(h.env, "service")).token, { paused: true })).statusCode).toBe(403);
    expect((await storedRoom(eventId))!.paused).toBeUndefined();
    const unknown = await call("POST", `/api/ops/events/${randomUUID()}/waiting_room`, admin, { paused: true });
    expect(unknown.json()).toEqual({ error: "not_found", message: "event not found" });
    const none = await call("POST", `/api/ops/events/${await createEvent()}/waiting_room`, admin, { paused: true });
    expect(none.json()).toEqual({ error: "not_found", message: "this event has no waiting room" });
    expect((await call("POST", url, admin, {})).statusCode).toBe(422);
    expectFieldError(await call("POST", url, admin, { paused: "yes" }), "paused");
    expectFieldError(await call("POST", url, admin, { max_active: 0 }), "max_active");
    expectFieldError(await call("POST", "/api/ops/events/nope/waiting_room", admin, { paused: true }), "id");
    expect(await auditRows(eventId, "queue_paused")).toEqual([]);
  });

  it("pauses and resumes admission and sets the cap: in PostgreSQL, in the room's Redis meta the tick reads, audited with who", async () => {
    const eventId = await createEvent({ waiting_room: { opens_at: at(-60_000) } });
    const before = (await storedRoom(eventId))!;
    const url = `/api/ops/events/${eventId}/waiting_room`;
    for (let i = 0; i < 4; i++) await h.app.rooms.join(eventId, randomUUID());
    expect(await h.app.rooms.draw(eventId)).toBe(4);

    const paused = await call("POST", url, admin, { paused: true });
    expect(paused.statusCode, paused.body).toBe(200);
    expect(paused.json()).toMatchObject({ paused: true, state: "running", waiting: 4, admitted: 0, commitment: before.commitment });
    expect(await storedRoom(eventId)).toEqual({ ...before, paused: true });
    expect(await h.env.redis.hget(h.env.keys.room(eventId).meta, "paused")).toBe("1");
    // The tick (whichever node holds the room) reads the meta: nobody is admitted while paused.
    expect(await h.app.rooms.tick(eventId, "api-test")).toMatchObject({ kind: "ticked", admitted: 0, waiting: 4 });
    const [pausedRow] = await auditRows(eventId, "queue_paused");
    expect(pausedRow).toMatchObject({ actor: `user:${adminId}`, seatId: null, detail: { was_paused: false } });

    const capped = await call("POST", url, admin, { max_active: 1 });
    expect(capped.json()).toMatchObject({ max_active: 1, paused: true });
    expect(await auditRows(eventId, "queue_max_active")).toMatchObject([{ actor: `user:${adminId}`, detail: { from: null, to: 1 } }]);
    const resumed = await call("POST", url, admin, { paused: false });
    expect(resumed.json()).toMatchObject({ paused: false, max_active: 1 });
    expect(await auditRows(eventId, "queue_resumed")).toMatchObject([{ actor: `user:${adminId}`, detail: { was_paused: true } }]);
    // Resumed with a cap of one: one buyer in, however many seats are free.
    expect(await h.app.rooms.tick(eventId, "api-test")).toMatchObject({ kind: "ticked", admitted: 1, waiting: 3 });
    await expect.poll(async () => (await call("GET", `/api/events/${eventId}/waiting_room`, null)).json(), { timeout: 5000 }).toMatchObject({ paused: false, max_active: 1, admitted: 1, shopping: 1 });
    expect(await storedRoom(eventId)).toEqual({ ...before, paused: false, max_active: 1 });
    // The event view follows, and an event PATCH keeps the operator's pause flag.
    expect((await call("PATCH", `/api/events/${eventId}`, admin, { waiting_room: { turn_ms: 60_000 } })).json().waiting_room).toMatchObject({ max_active: 1, turn_ms: 60_000 });
    expect((await storedRoom(eventId))!.paused).toBe(false);
  });

  it("GET /api/ops/status shows each current event's room figures, null for an event without one", async () => {
    const eventId = await createEvent({ waiting_room: { opens_at: at(-60_000), max_active: 3 } });
    const none = await createEvent();
    await h.app.rooms.join(eventId, randomUUID());
    const s = (await call("GET", "/api/ops/status", admin)).json() as { events: { id: string; waiting_room: unknown }[] };
    expect(s.events.find((e) => e.id === eventId)?.waiting_room).toEqual({
      state: "pre_queue",
      waiting: 1,
      admitted: 0,
      // The tick's figures are unknown, not zero, before the room's first tick counted anything.
      shopping: null,
      admitted_per_minute: null,
      free_seats: null,
      paused: false,
      max_active: 3,
    });
    expect(s.events.find((e) => e.id === none)?.waiting_room).toBeNull();
  });
});

describe("GET /openapi.json", () => {
  it("has the room's routes and describes the waiting_room fields", async () => {
    type Op = { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> }; responses: Record<string, unknown> };
    const doc = (await call("GET", "/openapi.json", null)).json() as { paths: Record<string, Record<string, Op>> };
    expect(Object.keys(doc.paths["/api/events/{id}/waiting_room"]?.get?.responses ?? {})).toEqual(expect.arrayContaining(["200", "404", "422"]));
    expect(Object.keys(doc.paths["/api/events/{id}/waiting_room/draw"]?.get?.responses ?? {})).toEqual(expect.arrayContaining(["200", "404", "409"]));
    expect(Object.keys(doc.paths["/api/ops/events/{id}/waiting_room"]?.post?.responses ?? {})).toEqual(expect.arrayContaining(["200", "401", "403", "404", "422"]));
    for (const [path, method] of [["/api/events", "post"], ["/api/events/{id}", "patch"]] as const) {
      const room = JSON.stringify(doc.paths[path]?.[method]?.requestBody?.content["application/json"]?.schema.properties.waiting_room);
      for (const field of ["opens_at", "turn_ms", "max_active", "pow_bits"]) expect(room, `${path} ${field}`).toContain(`"${field}"`);
      expect(room).toContain("before the event's sales_open_at");
    }
  });
});

if (!hasChromium) console.warn(`waiting-room ops page test skipped: no Chromium at ${CHROMIUM}`);

describe.skipIf(!hasChromium)("the ops page's waiting rooms in a real browser", () => {
  let browser: Browser;
  afterAll(async () => {
    await browser?.close();
  });

  it("shows each room's figures, pauses and resumes admission and sets the cap; an event name is text, not markup", async () => {
    const eventId = await createEvent({ name: `<img src=x onerror="window.hacked=1">`, waiting_room: { opens_at: at(-60_000) } });
    await h.app.rooms.join(eventId, randomUUID());
    await h.app.listen({ host: "127.0.0.1", port: 0 });
    const base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    browser = await launchChromium();
    const page = await (await browser.newContext()).newPage();
    page.on("dialog", (d) => void d.accept());
    await page.goto(`${base}/ops`);
    await page.fill('[data-testid="email"]', h.env.config.ADMIN_EMAIL);
    await page.fill('[data-testid="password"]', h.env.config.ADMIN_PASSWORD);
    await page.click('[data-testid="signin-button"]');
    const row = `[data-testid="rooms"] tbody tr[data-event="${eventId}"]`;
    await page.waitForSelector(`${row}[data-paused="false"][data-state="pre_queue"] [data-testid="waiting"]:text-is("1")`, { timeout: 15_000 });
    expect(await page.textContent(`${row} td`)).toBe(`<img src=x onerror="window.hacked=1">`);
    expect(await page.evaluate(() => (window as unknown as { hacked?: number }).hacked)).toBeUndefined();

    await page.click(`${row} button[data-act="room-pause"]`);
    await page.waitForSelector(`${row}[data-paused="true"]`);
    expect((await storedRoom(eventId))!.paused).toBe(true);
    await page.click(`${row} button[data-act="room-resume"]`);
    await page.waitForSelector(`${row}[data-paused="false"]`);

    await page.fill(`${row} [data-testid="max-active"]`, "25");
    await page.click(`${row} button[data-act="room-cap"]`);
    await expect.poll(async () => (await storedRoom(eventId))!.max_active, { timeout: 5000 }).toBe(25);
    await page.waitForSelector(`${row} [data-testid="max-active"][value="25"]`);
    await page.fill(`${row} [data-testid="max-active"]`, "");
    await page.press(`${row} [data-testid="max-active"]`, "Enter");
    await expect.poll(async () => (await storedRoom(eventId))!.max_active, { timeout: 5000 }).toBeNull();
    expect(await auditRows(eventId, "queue_max_active")).toHaveLength(2);
    await page.screenshot({ path: "/tmp/ops-page-waiting-rooms.png", fullPage: true });
  }, 60_000);
});
