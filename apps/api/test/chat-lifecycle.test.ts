import { eq } from "drizzle-orm";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatRooms, messageArchive, messages, notifications } from "@seatdrop/db";
import { ROOMS_QUEUE, roomActivateJob, roomCloseJob } from "@seatdrop/jobs";
import type { ApiApp } from "../src/app.ts";
import type { TestEnv } from "../../../test/support/test-env.ts";
import { createUser, firstLogged, push } from "../../../test/support/cluster.ts";
import { useClusterWithApi } from "../../../test/support/use-cluster.ts";
import { adminToken, bearer } from "./api-harness.ts";

/**
 * The scheduled life of a room, end to end: the API creates and moves events, the worker's jobs
 * open and close rooms, ws-nodes push what happens. CHAT_ACTIVATE_BEFORE_MS is 2 s here, so an
 * event starting in 3 s opens its room about a second from now.
 */
let env: TestEnv;
let app: ApiApp;
let admin: string;
let queue: Queue;
const LEAD_MS = 2000;

const world = useClusterWithApi({ CHAT_ACTIVATE_BEFORE_MS: String(LEAD_MS) });
const client = (node: number, token?: string) => world.client(node, token);
beforeAll(async () => {
  ({ env, app } = world);
  admin = await adminToken({ env, app, close: async () => {} });
  queue = new Queue(ROOMS_QUEUE, { connection: env.redis, prefix: env.keys.bullPrefix });
});
afterAll(async () => {
  await queue.close();
});

const iso = (msFromNow: number) => new Date(Date.now() + msFromNow).toISOString();

async function createEvent(startIn: number, endIn: number): Promise<{ id: string; start: string; end: string }> {
  const start = iso(startIn);
  const end = iso(endIn);
  const res = await app.inject({
    method: "POST",
    url: "/api/events/create_event",
    headers: bearer(admin),
    payload: { event: { name: "Lifecycle", description: "rooms open and close", location: "Antalya", start_time: start, end_time: end } },
  });
  expect(res.statusCode, res.body).toBe(201);
  return { id: (res.json() as { id: string }).id, start, end };
}

async function ticketFor(eventId: string, userId: string, number: string): Promise<void> {
  const created = await app.inject({ method: "POST", url: "/api/tickets/create", headers: bearer(admin), payload: { ticket: { ticket_number: number, event_id: eventId } } });
  expect(created.statusCode, created.body).toBe(201);
  const id = (created.json() as { ticket: { id: string } }).ticket.id;
  const assigned = await app.inject({ method: "PATCH", url: `/api/tickets/${id}/assign/${userId}`, headers: bearer(admin) });
  expect(assigned.statusCode, assigned.body).toBe(200);
}

describe("room lifecycle driven by the worker", () => {
  it("opens the room before the start (notifications stored and pushed), closes it at the end and archives its messages", async () => {
    // The room opens 4 s from now: time enough to sign two holders in and hear `chat_inactive` first,
    // even on a loaded machine (1.5 s was not).
    const ev = await createEvent(LEAD_MS + 4000, LEAD_MS + 8000);
    const [alice, bob] = [await createUser(env), await createUser(env)];
    await ticketFor(ev.id, alice.id, `L-${ev.id.slice(0, 8)}-a`);
    await ticketFor(ev.id, bob.id, `L-${ev.id.slice(0, 8)}-b`);

    const aliceSocket = client(0, alice.token);
    const personal = await aliceSocket.join(`user:${alice.id}`);
    expect(personal.reply).toMatchObject({ user_id: alice.id, unread: [] });
    const a = await aliceSocket.join(`event:${ev.id}`);
    expect(a.reply).toMatchObject({ status: "inactive" });
    const b = await client(1, bob.token).join(`event:${ev.id}`);
    expect((await push(a.channel, "new_message", { content: "early" })).response).toMatchObject({ reason: "chat_inactive" });

    // The activation job runs: members hear it, each ticket holder gets a stored notification, pushed live.
    await expect.poll(() => a.log.find((m) => m.event === "room_status"), { timeout: 10_000, message: "room_status active" }).toBeTruthy();
    expect(a.log.find((m) => m.event === "room_status")!.payload).toEqual({ status: "active" });
    const pushed = await firstLogged(personal.log, "notification", { ms: 5000 });
    expect(pushed.payload).toMatchObject({ event_id: ev.id, status: "unread", message: expect.stringContaining("Lifecycle") });
    const stored = await env.db.db.select().from(notifications).where(eq(notifications.eventId, ev.id));
    expect(stored.map((n) => n.userId).sort()).toEqual([alice.id, bob.id].sort());

    const listed = await app.inject({ method: "GET", url: "/api/users/me/notifications", headers: bearer(alice.token) });
    expect(listed.statusCode).toBe(200);
    const mine = (listed.json() as { notifications: { id: string; status: string }[] }).notifications;
    expect(mine).toHaveLength(1);
    expect(mine[0]!.id).toBe(pushed.payload.id);
    const read = await app.inject({ method: "POST", url: `/api/notifications/${mine[0]!.id}/read`, headers: bearer(alice.token) });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ notification: { id: mine[0]!.id, status: "read" } });
    // Someone else's notification is not found, whatever its id.
    expect((await app.inject({ method: "POST", url: `/api/notifications/${mine[0]!.id}/read`, headers: bearer(bob.token) })).statusCode).toBe(404);
    const unread = await app.inject({ method: "GET", url: "/api/users/me/notifications?status=unread", headers: bearer(alice.token) });
    expect((unread.json() as { notifications: unknown[] }).notifications).toEqual([]);

    const sent = await push(a.channel, "new_message", { content: "the show is about to start" });
    expect(sent.status).toBe("ok");
    await expect.poll(() => b.log.find((m) => m.event === "new_message"), { timeout: 5000, message: "message on node 1" }).toBeTruthy();

    // The close job at the end: members told, messages moved to the archive, never served again.
    await expect.poll(() => b.log.find((m) => m.event === "room_status" && m.payload.status === "inactive"), { timeout: 15_000, message: "room_status inactive" }).toBeTruthy();
    expect(b.log.find((m) => m.event === "room_status" && m.payload.status === "inactive")!.payload).toEqual({ status: "inactive", reason: "event_ended" });
    const [room] = await env.db.db.select().from(chatRooms).where(eq(chatRooms.eventId, ev.id));
    expect(room).toMatchObject({ status: "inactive" });
    expect(room!.archivedAt).toBeInstanceOf(Date);
    expect(await env.db.db.select().from(messages).where(eq(messages.chatRoomId, room!.id))).toEqual([]);
    const archived = await env.db.db.select().from(messageArchive).where(eq(messageArchive.chatRoomId, room!.id));
    expect(archived.map((m) => m.content)).toEqual(["the show is about to start"]);
    expect((await push(a.channel, "new_message", { content: "after the end" })).response).toMatchObject({ reason: "chat_inactive" });
    const rejoin = await client(1, bob.token).join(`event:${ev.id}`);
    expect(rejoin.reply).toMatchObject({ status: "inactive", messages: [] });

    const adminView = await app.inject({ method: "GET", url: `/api/events/${ev.id}/chat_room/archive`, headers: bearer(admin) });
    expect(adminView.statusCode).toBe(200);
    expect(adminView.json()).toMatchObject({ room: { id: room!.id, status: "inactive" }, more: false, messages: [{ id: sent.response.id, content: "the show is about to start", user_id: alice.id }] });
    expect((await app.inject({ method: "GET", url: `/api/events/${ev.id}/chat_room/archive`, headers: bearer(alice.token) })).statusCode).toBe(403);
    expect((await app.inject({ method: "GET", url: `/api/events/${ev.id}/chat_room/archive` })).statusCode).toBe(401);
  });

  it("an event update moves the schedule: old jobs go, the room opens at the new time, and closes again when moved later", async () => {
    const ev = await createEvent(86_400_000, 90_000_000);
    const oldActivate = roomActivateJob.jobId({ eventId: ev.id, at: Date.parse(ev.start) - LEAD_MS });
    const oldClose = roomCloseJob.jobId({ eventId: ev.id, at: Date.parse(ev.end) });
    expect(await queue.getJobState(oldActivate)).toBe("delayed");
    expect(await queue.getJobState(oldClose)).toBe("delayed");
    const alice = await createUser(env);
    await ticketFor(ev.id, alice.id, `M-${ev.id.slice(0, 8)}`);
    const a = await client(0, alice.token).join(`event:${ev.id}`);
    expect(a.reply).toMatchObject({ status: "inactive" });

    const start = iso(LEAD_MS + 1500);
    const moved = await app.inject({ method: "POST", url: "/api/events/update_event", headers: bearer(admin), payload: { id: ev.id, event: { start_time: start, end_time: iso(3_600_000) } } });
    expect(moved.statusCode, moved.body).toBe(200);
    expect(moved.json()).toMatchObject({ id: ev.id, start_time: start });
    expect(await queue.getJobState(oldActivate)).toBe("unknown");
    await expect.poll(() => a.log.find((m) => m.event === "room_status" && m.payload.status === "active"), { timeout: 10_000, message: "opened at the new time" }).toBeTruthy();
    expect((await push(a.channel, "new_message", { content: "open now" })).status).toBe("ok");

    // Moved a day later again: the room closes until its new time (its messages stay).
    const later = await app.inject({ method: "PATCH", url: `/api/events/${ev.id}`, headers: bearer(admin), payload: { start_time: iso(86_400_000), end_time: iso(90_000_000) } });
    expect(later.statusCode, later.body).toBe(200);
    expect(later.json()).toMatchObject({ chat_room: { status: "inactive" } });
    await expect.poll(() => a.log.find((m) => m.event === "room_status" && m.payload.status === "inactive"), { timeout: 5000, message: "closed again" }).toBeTruthy();
    expect(a.log.find((m) => m.event === "room_status" && m.payload.status === "inactive")!.payload).toEqual({ status: "inactive", reason: "rescheduled" });
    const room = await app.inject({ method: "GET", url: `/api/events/${ev.id}/chat_room` });
    expect(room.json()).toMatchObject({ status: "inactive", activates_at: new Date(Date.parse(later.json().start_time) - LEAD_MS).toISOString() });
    const rejoin = await client(1, alice.token).join(`event:${ev.id}`);
    expect((rejoin.reply.messages as { content: string }[]).map((m) => m.content)).toEqual(["open now"]);
  });
});
