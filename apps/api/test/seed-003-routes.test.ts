import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { chatRooms, events, tickets } from "@seatdrop/db";
import { bearer, signUpFresh, signUp, useApiWithAdmin, type ApiHarness } from "./api-harness.ts";

/**
 * Every route of the chat service as its API writes it (path, method, body keys, status codes), beside the
 * REST routes; including 401 (no or bad token) versus 403 (a token without the right).
 */
let h: ApiHarness;
let admin: string;
const world = useApiWithAdmin();
beforeAll(() => {
  ({ h, admin } = world);
});
const newUser = () => signUpFresh(h.app, "seed");

type Method = "GET" | "POST" | "PATCH" | "DELETE";
const call = (method: Method, url: string, token: string | null, payload?: unknown) =>
  h.app.inject({ method, url, headers: token ? bearer(token) : {}, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });

const seedEvent = {
  name: "concert",
  description: "A great music concert",
  location: "Antalya",
  start_time: "2030-01-01 19:00:07",
  end_time: "2030-01-01 23:00:07",
};

async function createSeedEvent(overrides: Record<string, unknown> = {}): Promise<{ id: string; chat_room: { id: string; status: string } }> {
  const res = await call("POST", "/api/events/create_event", admin, { event: { ...seedEvent, ...overrides } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

describe("events (chat service routes)", () => {
  it("POST /api/events/create_event: 201 with the event and its inactive chat room; 401, 403, 422", async () => {
    const res = await call("POST", "/api/events/create_event", admin, { event: seedEvent });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      name: "concert",
      description: "A great music concert",
      location: "Antalya",
      start_time: "2030-01-01T19:00:07.000Z",
      end_time: "2030-01-01T23:00:07.000Z",
      seat_count: 0,
      chat_room: { id: expect.any(String), status: "inactive" },
    });
    const [room] = await h.env.db.db.select().from(chatRooms).where(eq(chatRooms.eventId, body.id));
    expect(room).toMatchObject({ id: body.chat_room.id, status: "inactive" });

    const user = await newUser();
    expect((await call("POST", "/api/events/create_event", null, { event: seedEvent })).statusCode).toBe(401);
    expect((await call("POST", "/api/events/create_event", "not-a-token", { event: seedEvent })).json()).toMatchObject({ error: "invalid_token" });
    expect((await call("POST", "/api/events/create_event", user.token, { event: seedEvent })).statusCode).toBe(403);

    const missing = await call("POST", "/api/events/create_event", admin, { event: { ...seedEvent, name: undefined } });
    expect(missing.statusCode).toBe(422);
    expect(missing.json()).toMatchObject({ error: "validation_failed", errors: [{ field: "event.name" }] });
    const badDate = await call("POST", "/api/events/create_event", admin, { event: { ...seedEvent, start_time: "2030-02-30 10:00:00" } });
    expect(badDate.statusCode).toBe(422);
    expect(badDate.json().errors).toContainEqual({ field: "event.start_time", message: "is not a valid date-time" });
    const backwards = await call("POST", "/api/events/create_event", admin, { event: { ...seedEvent, end_time: "2030-01-01 18:00:00" } });
    expect(backwards.statusCode).toBe(422);
    expect(backwards.json().errors).toContainEqual({ field: "event.end_time", message: "must be after start_time" });
    expect((await call("POST", "/api/events/create_event", admin, seedEvent)).json()).toMatchObject({ errors: [{ field: "event" }] });
  });

  it("POST /api/events/update_event: 200, 404, 422, 401, 403; PATCH /api/events/:id is the same", async () => {
    const ev = await createSeedEvent();
    const upd = {
      id: ev.id,
      event: { name: "Updated Concert", description: "An updated great music concert", location: "Updated Antalya", start_time: "2030-01-01 20:00:00", end_time: "2030-01-01 23:30:00" },
    };
    const res = await call("POST", "/api/events/update_event", admin, upd);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: ev.id, name: "Updated Concert", location: "Updated Antalya", start_time: "2030-01-01T20:00:00.000Z", end_time: "2030-01-01T23:30:00.000Z", chat_room: { status: "inactive" } });
    const [row] = await h.env.db.db.select().from(events).where(eq(events.id, ev.id));
    expect(row).toMatchObject({ name: "Updated Concert", description: "An updated great music concert" });

    expect((await call("POST", "/api/events/update_event", admin, { ...upd, id: randomUUID() })).statusCode).toBe(404);
    expect((await call("POST", "/api/events/update_event", admin, { ...upd, id: "nope" })).json()).toMatchObject({ errors: [{ field: "id" }] });
    const backwards = await call("POST", "/api/events/update_event", admin, { id: ev.id, event: { end_time: "2030-01-01 10:00:00" } });
    expect(backwards.statusCode).toBe(422);
    expect(backwards.json()).toMatchObject({ errors: [{ field: "event.end_time" }] });
    expect((await call("POST", "/api/events/update_event", admin, { id: ev.id, event: {} })).statusCode).toBe(422);
    expect((await call("POST", "/api/events/update_event", admin, { id: ev.id, event: { start_time: "tomorrow" } })).statusCode).toBe(422);
    expect((await call("POST", "/api/events/update_event", null, upd)).statusCode).toBe(401);
    expect((await call("POST", "/api/events/update_event", (await newUser()).token, upd)).statusCode).toBe(403);

    const patched = await call("PATCH", `/api/events/${ev.id}`, admin, { location: "Istanbul" });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ location: "Istanbul", name: "Updated Concert" });
    expect((await call("PATCH", `/api/events/${randomUUID()}`, admin, { location: "x" })).statusCode).toBe(404);
  });

  it("POST /api/events/get_chat_room_by_id: 200 with id and status, 404, 422; GET /api/events/:id/chat_room", async () => {
    const ev = await createSeedEvent();
    const res = await call("POST", "/api/events/get_chat_room_by_id", null, { event_id: ev.id });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      id: ev.chat_room.id,
      event_id: ev.id,
      status: "inactive",
      activates_at: new Date(Date.parse("2030-01-01T19:00:07Z") - h.env.config.CHAT_ACTIVATE_BEFORE_MS).toISOString(),
      closes_at: "2030-01-01T23:00:07.000Z",
    });
    expect((await call("POST", "/api/events/get_chat_room_by_id", null, { event_id: randomUUID() })).statusCode).toBe(404);
    expect((await call("POST", "/api/events/get_chat_room_by_id", null, {})).json()).toMatchObject({ errors: [{ field: "event_id" }] });
    expect((await call("GET", `/api/events/${ev.id}/chat_room`, null)).json()).toMatchObject({ id: ev.chat_room.id, status: "inactive" });
    expect((await call("GET", `/api/events/${randomUUID()}/chat_room`, null)).statusCode).toBe(404);
  });

  it("DELETE /api/events/:id: 204 (room and tickets go with it), then 404; 401, 403, 422", async () => {
    const ev = await createSeedEvent();
    await call("POST", "/api/tickets/create", admin, { ticket: { ticket_number: `DEL-${ev.id.slice(0, 8)}`, event_id: ev.id } });
    const user = await newUser();
    expect((await call("DELETE", `/api/events/${ev.id}`, null)).statusCode).toBe(401);
    expect((await call("DELETE", `/api/events/${ev.id}`, user.token)).statusCode).toBe(403);
    const res = await call("DELETE", `/api/events/${ev.id}`, admin);
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe("");
    expect(await h.env.db.db.select().from(chatRooms).where(eq(chatRooms.eventId, ev.id))).toEqual([]);
    expect(await h.env.db.db.select().from(tickets).where(eq(tickets.eventId, ev.id))).toEqual([]);
    expect((await call("DELETE", `/api/events/${ev.id}`, admin)).statusCode).toBe(404);
    expect((await call("DELETE", "/api/events/not-a-uuid", admin)).statusCode).toBe(422);
  });
});

describe("users (chat service routes)", () => {
  it("sign up 201, sign in 200/401, show 200/401/403, update 200/401/403, sign out 204 revokes, delete 204/401/403", async () => {
    const me = await newUser();
    const other = await newUser();
    const dup = await signUp(h.app, { username: "someone_else", email: me.email, password: "hashed+password" });
    expect(dup.status).toBe(409);
    expect((await call("POST", "/api/users/create", null, { user_params: { username: "x" } })).statusCode).toBe(422);

    const signIn = await call("POST", "/api/users/sign_in", null, { email: me.email, password_hash: me.password });
    expect(signIn.statusCode).toBe(200);
    expect(signIn.json()).toMatchObject({ user: { id: me.id, email: me.email }, token: expect.any(String) });
    expect((await call("POST", "/api/users/sign_in", null, { email: me.email, password_hash: "wrong password" })).statusCode).toBe(401);

    expect((await call("GET", `/api/users/${me.id}`, me.token)).statusCode).toBe(200);
    expect((await call("GET", `/api/users/${me.id}`, null)).statusCode).toBe(401);
    expect((await call("GET", `/api/users/${other.id}`, me.token)).statusCode).toBe(403);

    const updatedEmail = `updated-${me.id}@email.com`;
    const upd = await call("POST", "/api/users/update", me.token, { id: me.id, user_params: { email: updatedEmail, password_hash: "updated+hashed+password" } });
    expect(upd.statusCode).toBe(200);
    expect(upd.json()).toMatchObject({ user: { email: updatedEmail }, token: expect.any(String) });
    // The password changed: the old token is refused, the answer carries a fresh one.
    expect((await call("GET", `/api/users/${me.id}`, me.token)).json()).toMatchObject({ error: "token_revoked" });
    const token = (upd.json() as { token: string }).token;
    expect((await call("POST", "/api/users/update", null, { id: me.id, user_params: { email: "a@b.co" } })).statusCode).toBe(401);
    expect((await call("POST", "/api/users/update", token, { id: other.id, user_params: { email: "a@b.co" } })).statusCode).toBe(403);

    expect((await call("DELETE", `/api/users/delete_user/${other.id}`, null)).statusCode).toBe(401);
    expect((await call("DELETE", `/api/users/delete_user/${other.id}`, token)).statusCode).toBe(403);
    expect((await call("DELETE", `/api/users/delete/${other.id}`, token)).statusCode).toBe(403);
    expect((await call("DELETE", `/api/users/delete_user/${other.id}`, other.token)).statusCode).toBe(204);

    const out = await call("POST", "/api/users/sign_out", token);
    expect(out.statusCode).toBe(204);
    const after = await call("GET", `/api/users/${me.id}`, token);
    expect(after.statusCode).toBe(401);
    expect(after.json()).toMatchObject({ error: "token_revoked" });
  });
});

describe("tickets (box office routes)", () => {
  it("POST /api/tickets/create: 201 for an admin; 409 for a number issued twice; 422 for an unknown event; 401, 403", async () => {
    const ev = await createSeedEvent();
    const res = await call("POST", "/api/tickets/create", admin, { ticket: { ticket_number: "123456789", event_id: ev.id } });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      ticket: { id: expect.any(String), ticket_number: "123456789", event_id: ev.id, user_id: null, status: "valid", used_at: null, order_id: null, seat_id: null, inserted_at: expect.any(String) },
    });
    const again = await call("POST", "/api/tickets/create", admin, { ticket: { ticket_number: "123456789", event_id: ev.id } });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: "conflict", field: "ticket.ticket_number" });
    expect((await call("POST", "/api/tickets/create", admin, { ticket: { ticket_number: "555", event_id: randomUUID() } })).json()).toMatchObject({
      error: "validation_failed",
      errors: [{ field: "ticket.event_id" }],
    });
    expect((await call("POST", "/api/tickets/create", admin, { ticket: { ticket_number: "has space", event_id: ev.id } })).statusCode).toBe(422);
    expect((await call("POST", "/api/tickets/create", null, { ticket: { ticket_number: "556", event_id: ev.id } })).statusCode).toBe(401);
    expect((await call("POST", "/api/tickets/create", (await newUser()).token, { ticket: { ticket_number: "556", event_id: ev.id } })).statusCode).toBe(403);
    expect((await call("POST", "/api/tickets", admin, { ticket: { ticket_number: "557", event_id: ev.id } })).statusCode).toBe(201);
  });

  it("PATCH /api/tickets/:ticket_id/assign/:user_id: to yourself 200, to another 403 (admin 200), 404 unknown, 409 claimed or used", async () => {
    const ev = await createSeedEvent();
    const issue = async (number: string) => (await call("POST", "/api/tickets/create", admin, { ticket: { ticket_number: number, event_id: ev.id } })).json().ticket.id as string;
    const [t1, t2, t3] = [await issue(`A-${ev.id.slice(0, 6)}`), await issue(`B-${ev.id.slice(0, 6)}`), await issue(`C-${ev.id.slice(0, 6)}`)];
    const [me, other] = [await newUser(), await newUser()];

    const mine = await call("PATCH", `/api/tickets/${t1}/assign/${me.id}`, me.token);
    expect(mine.statusCode).toBe(200);
    expect(mine.json()).toMatchObject({ ticket: { id: t1, user_id: me.id } });
    expect((await call("PATCH", `/api/tickets/${t1}/assign/${me.id}`, me.token)).statusCode).toBe(200); // again: unchanged
    expect((await call("PATCH", `/api/tickets/${t2}/assign/${other.id}`, me.token)).statusCode).toBe(403);
    expect((await call("PATCH", `/api/tickets/${t2}/assign/${other.id}`, null)).statusCode).toBe(401);
    expect((await call("PATCH", `/api/tickets/${t2}/assign/${other.id}`, admin)).json()).toMatchObject({ ticket: { user_id: other.id } });
    const claimed = await call("PATCH", `/api/tickets/${t2}/assign/${me.id}`, me.token);
    expect(claimed.statusCode).toBe(409);
    expect(claimed.json()).toMatchObject({ error: "ticket_claimed" });

    expect((await call("PATCH", `/api/tickets/${randomUUID()}/assign/${me.id}`, me.token)).statusCode).toBe(404);
    expect((await call("PATCH", `/api/tickets/${t3}/assign/${randomUUID()}`, admin)).json()).toMatchObject({ error: "not_found", message: "user not found" });
    expect((await call("PATCH", `/api/tickets/nope/assign/${me.id}`, me.token)).statusCode).toBe(422);

    // Once its holder entered the chat room with it, no user can take it; an admin still can (a
    // stolen ticket must be recoverable), and that is audited (apps/api/test/ticket-claims.test.ts
    // checks the audit).
    await h.env.db.db.update(tickets).set({ usedAt: new Date() }).where(eq(tickets.id, t1));
    const used = await call("PATCH", `/api/tickets/${t1}/assign/${other.id}`, other.token);
    expect(used.statusCode).toBe(409);
    expect(used.json()).toMatchObject({ error: "ticket_used" });
    expect((await call("PATCH", `/api/tickets/${t1}/assign/${other.id}`, admin)).json()).toMatchObject({ ticket: { user_id: other.id, used_at: null } });
  });
});

describe("notifications and the OpenAPI document", () => {
  it("GET /api/users/me/notifications needs a token; POST /api/notifications/:id/read is 404 for an unknown id", async () => {
    const me = await newUser();
    expect((await call("GET", "/api/users/me/notifications", null)).statusCode).toBe(401);
    const list = await call("GET", "/api/users/me/notifications", me.token);
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({ notifications: [] });
    expect((await call("POST", `/api/notifications/${randomUUID()}/read`, me.token)).statusCode).toBe(404);
    expect((await call("POST", `/api/notifications/${randomUUID()}/read`, null)).statusCode).toBe(401);
    expect((await call("GET", "/api/users/me/notifications?status=archived", me.token)).statusCode).toBe(422);
  });

  it("lists the chat service's routes beside the REST ones", async () => {
    const doc = (await call("GET", "/openapi.json", null)).json() as { paths: Record<string, Record<string, unknown>> };
    const has = (path: string, method: string) => expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    has("/api/events/create_event", "post");
    has("/api/events/update_event", "post");
    has("/api/events/get_chat_room_by_id", "post");
    has("/api/events/{id}", "delete");
    has("/api/events/{id}", "patch");
    has("/api/events/{id}/chat_room", "get");
    has("/api/events/{id}/chat_room/archive", "get");
    has("/api/tickets/create", "post");
    has("/api/tickets", "post");
    has("/api/tickets/{ticket_id}/assign/{user_id}", "patch");
    has("/api/users/me/notifications", "get");
    has("/api/notifications/{id}/read", "post");
    has("/api/users/create", "post");
    has("/api/users/sign_in", "post");
    has("/api/users/delete_user/{id}", "delete");
  });
});
