import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { createTokenVerifier, SessionStore } from "@seatdrop/auth";
import { events, messages, orders, tickets } from "@seatdrop/db";
import type { TestEnv } from "../../../test/support/test-env.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { PhxClient, createUser, firstLogged, push, type TestCluster } from "../../../test/support/cluster.ts";
import { createChatEvent, issueTicket, syncEventRoom } from "./chat-support.ts";

let env: TestEnv;
let cluster: TestCluster;
const client = (node: number, token?: string) => world.client(node, token);
const RATE = 5;

const world = useCluster({ CHAT_RATE: String(RATE), CHAT_RATE_WINDOW_MS: "60000", CHAT_TYPING_THROTTLE_MS: "60000", CHAT_MAX_MESSAGE_LENGTH: "2000" }, { worker: false });
beforeAll(() => {
  env = world.env;
  cluster = world.cluster;
});

/** An event whose room is active (it starts within CHAT_ACTIVATE_BEFORE_MS). */
async function activeRoom() {
  const ev = await createChatEvent(env, { startInMs: 3_600_000 });
  expect(await syncEventRoom(env, ev.eventId)).toBe("activated");
  return ev;
}

async function refusal(c: PhxClient, topic: string, params: Record<string, unknown> = {}) {
  const err = await c.join(topic, params).then(
    () => {
      throw new Error(`join ${topic} should have been refused`);
    },
    (e: { reply?: Record<string, unknown> }) => e,
  );
  return err.reply;
}

describe("chat channel event:<id> (stock phoenix client, two ws-nodes)", () => {
  it("two ticket holders on two nodes chat; typing reaches the other; a late joiner gets the history", async () => {
    const { eventId, roomId } = await activeRoom();
    const [alice, bob, carol] = [await createUser(env), await createUser(env), await createUser(env)];
    await issueTicket(env, eventId, alice.id);
    const bobTicket = await issueTicket(env, eventId);
    await issueTicket(env, eventId, carol.id);

    const a = await client(0, alice.token).join(`event:${eventId}`);
    expect(a.reply).toMatchObject({ status: "active", messages: [], more: false, user_id: alice.id, room_id: roomId });
    const b = await client(1, bob.token).join(`event:${eventId}`, { ticket_number: bobTicket.number });
    expect(b.reply).toMatchObject({ status: "active", user_id: bob.id });
    const [claimed] = await env.db.db.select().from(tickets).where(eq(tickets.id, bobTicket.id));
    expect(claimed).toMatchObject({ userId: bob.id });
    expect(claimed!.usedAt).toBeInstanceOf(Date);

    const sent = await push(a.channel, "new_message", { content: "Hello from node 0" });
    expect(sent.status).toBe("ok");
    const id = sent.response.id as string;
    const heard = await firstLogged(b.log, "new_message", { ms: 5000 });
    expect(heard.payload).toEqual({ id, user_id: alice.id, content: "Hello from node 0", content_type: "text", inserted_at: expect.any(String) });

    const answer = await push(b.channel, "new_message", { content: "Hi back from node 1", content_type: "markdown" });
    expect(answer.status).toBe("ok");
    await expect.poll(() => a.log.find((m) => m.event === "new_message"), { timeout: 5000, message: "new_message on node 0" }).toBeTruthy();
    expect(a.log.filter((m) => m.event === "new_message").map((m) => m.payload.content)).toEqual(["Hi back from node 1"]);

    expect(await push(b.channel, "user_typing", { typing: true })).toEqual({ status: "ok", response: {} });
    const typing = await firstLogged(a.log, "user_typing", { ms: 5000 });
    expect(typing.payload).toEqual({ user_id: bob.id, typing: true });
    // Throttled per user and kind: a second "typing" within the window is swallowed, "stopped" is not.
    expect(await push(b.channel, "user_typing", { typing: true })).toEqual({ status: "ok", response: { throttled: true } });
    expect(await push(b.channel, "user_typing", { typing: false })).toEqual({ status: "ok", response: {} });
    await expect.poll(() => a.log.filter((m) => m.event === "user_typing").length, { timeout: 5000, message: "typing stopped" }).toBe(2);
    expect(a.log.filter((m) => m.event === "user_typing").map((m) => m.payload.typing)).toEqual([true, false]);

    // Several messages in a row arrive once each, in the same order on every node.
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push((await push(a.channel, "new_message", { content: `burst ${n}` })).response.id as string);
    const c = await client(1, carol.token).join(`event:${eventId}`);
    await expect.poll(() => b.log.filter((m) => m.event === "new_message").length, { timeout: 5000, message: "all messages on node 1" }).toBe(4);
    expect(b.log.filter((m) => m.event === "new_message").map((m) => m.payload.id)).toEqual([id, ...ids]);
    expect((c.reply.messages as { content: string }[]).map((m) => m.content)).toEqual(["Hello from node 0", "Hi back from node 1", "burst 1", "burst 2", "burst 3"]);

    const stored = await env.db.db.select().from(messages).where(eq(messages.chatRoomId, roomId));
    expect(stored).toHaveLength(5);
    expect(stored.find((m) => m.id === answer.response.id)).toMatchObject({ userId: bob.id, contentType: "markdown" });
    // The authors never heard their own messages or typing.
    expect(a.log.filter((m) => m.event === "new_message" && m.payload.user_id === alice.id)).toEqual([]);
    expect(b.log.filter((m) => m.event === "user_typing")).toEqual([]);
  });

  it("messages one member sends back to back reach the others in the order sent", async () => {
    const { eventId } = await activeRoom();
    const [alice, bob] = [await createUser(env), await createUser(env)];
    await issueTicket(env, eventId, alice.id);
    await issueTicket(env, eventId, bob.id);
    const a = await client(0, alice.token).join(`event:${eventId}`);
    const b = await client(1, bob.token).join(`event:${eventId}`);
    const texts = Array.from({ length: RATE }, (_, i) => `in order ${i}`);
    // Not awaited one by one: all pushes are in flight together, as a fast typist's would be.
    const replies = await Promise.all(texts.map((content) => push(a.channel, "new_message", { content })));
    expect(replies.map((r) => r.status)).toEqual(texts.map(() => "ok"));
    await expect.poll(() => b.log.filter((m) => m.event === "new_message").length, { timeout: 5000, message: "all messages on node 1" }).toBe(texts.length);
    expect(b.log.filter((m) => m.event === "new_message").map((m) => m.payload.content)).toEqual(texts);
  });

  it("refuses joins with a clear reason: anonymous, no ticket, unknown event, foreign, unknown, void or claimed ticket", async () => {
    const { eventId } = await activeRoom();
    const other = await activeRoom();
    const [alice, dave, eve] = [await createUser(env), await createUser(env), await createUser(env)];
    const topic = `event:${eventId}`;

    expect(await refusal(client(0), topic)).toMatchObject({ reason: "unauthorized" });
    expect(await refusal(client(0, dave.token), topic)).toMatchObject({ reason: "unauthorized" });
    expect(await refusal(client(0, dave.token), `event:${randomUUID()}`)).toMatchObject({ reason: "unknown_event" });
    expect(await refusal(client(0, dave.token), "event:NOT-A-UUID")).toMatchObject({ reason: "unknown_event" });

    const foreign = await issueTicket(env, other.eventId);
    expect(await refusal(client(1, dave.token), topic, { ticket_number: foreign.number })).toMatchObject({ reason: "invalid_ticket", field: "ticket_number" });
    expect(await refusal(client(1, dave.token), topic, { ticket_number: "no-such-ticket" })).toMatchObject({ reason: "invalid_ticket" });
    expect(await refusal(client(1, dave.token), topic, { ticket_number: 12345 })).toMatchObject({ reason: "malformed_payload", field: "ticket_number" });
    const voided = await issueTicket(env, eventId);
    await env.db.db.update(tickets).set({ status: "void" }).where(eq(tickets.id, voided.id));
    expect(await refusal(client(1, dave.token), topic, { ticket_number: voided.number })).toMatchObject({ reason: "invalid_ticket", field: "ticket_number" }); // one refusal for every reason

    const t = await issueTicket(env, eventId);
    await client(0, alice.token).join(topic, { ticket_number: t.number });
    expect(await refusal(client(1, dave.token), topic, { ticket_number: t.number })).toMatchObject({ reason: "invalid_ticket", field: "ticket_number" });
    // Alice gets back in without the number: the ticket is hers now.
    await client(1, alice.token).join(topic);
    const [row] = await env.db.db.select().from(tickets).where(eq(tickets.id, t.id));
    expect(row!.userId).toBe(alice.id);

    // Two users racing for one number: exactly one gets it.
    const race = await issueTicket(env, eventId);
    const results = await Promise.allSettled([client(0, dave.token).join(topic, { ticket_number: race.number }), client(1, eve.token).join(topic, { ticket_number: race.number })]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect((lost.reason as { reply: unknown }).reply).toMatchObject({ reason: "invalid_ticket" });
  });

  it("a ticket issued by a paid order opens the room like a box-office ticket", async () => {
    const { eventId } = await activeRoom();
    const buyer = await createUser(env);
    const [order] = await env.db.db
      .insert(orders)
      .values({ userId: buyer.id, eventId, status: "paid", totalCents: 1000, expiresAt: new Date(Date.now() + 60_000), paidAt: new Date() })
      .returning({ id: orders.id });
    const [t] = await env.db.db.insert(tickets).values({ eventId, ticketNumber: `ORD-${order!.id}`, userId: buyer.id, orderId: order!.id, seatId: "A_1" }).returning();
    const c = await client(0, buyer.token).join(`event:${eventId}`);
    expect(c.reply).toMatchObject({ status: "active", user_id: buyer.id });
    const [used] = await env.db.db.select().from(tickets).where(eq(tickets.id, t!.id));
    expect(used!.usedAt).toBeInstanceOf(Date);
  });

  it("a token revoked by sign-out cannot connect", async () => {
    const user = await createUser(env);
    const t = await createTokenVerifier(env.config).verify(user.token);
    // The sign-out the API does: recorded, cached, announced to every node (SessionStore.revoke).
    await new SessionStore({ db: env.db.db, redis: env.redis, keys: env.keys, tokenLifetimeS: env.config.JWT_TTL_SECONDS }).revoke(t);
    const attempt = () =>
      new Promise<{ code: number; body: string }>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${cluster.nodes[0]!.port}/socket/websocket?vsn=2.0.0&token=${encodeURIComponent(user.token)}`);
        ws.on("unexpected-response", (_req, res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d.toString()));
          res.on("end", () => resolve({ code: res.statusCode ?? 0, body }));
        });
        // Admitted before the announcement reached the node (a few ms): the node closes it with 4401.
        ws.on("open", () => ws.once("close", (code) => resolve({ code, body: "" })));
        ws.on("error", () => {});
      });
    const first = await attempt();
    expect([401, 4401]).toContain(first.code);
    // Once the announcement has arrived (bounded at 1 s in session-mirror.test.ts) the upgrade itself is refused.
    await vi.waitFor(async () => expect((await attempt()).code).toBe(401), { timeout: 1000, interval: 20 });
    const status = await attempt();
    expect(status.code).toBe(401);
    expect(JSON.parse(status.body)).toMatchObject({ error: "token_revoked" });
  });

  it("before activation members see each other but cannot message; activation tells them and opens the room", async () => {
    const { eventId } = await createChatEvent(env, { startInMs: 86_400_000 });
    const [alice, bob] = [await createUser(env), await createUser(env)];
    await issueTicket(env, eventId, alice.id);
    await issueTicket(env, eventId, bob.id);
    const a = await client(0, alice.token).join(`event:${eventId}`);
    expect(a.reply).toMatchObject({ status: "inactive" });
    const b = await client(1, bob.token).join(`event:${eventId}`);
    await expect.poll(() => a.log.some((m) => m.event === "presence_diff" && Object.keys((m.payload.joins as object) ?? {}).includes(bob.id)), { timeout: 5000, message: "bob's presence" }).toBeTruthy();
    const state = b.log.find((m) => m.event === "presence_state");
    expect(Object.keys(state!.payload).sort()).toEqual([alice.id, bob.id].sort());

    expect(await push(a.channel, "new_message", { content: "too early" })).toMatchObject({ status: "error", response: { reason: "chat_inactive" } });
    expect(await push(a.channel, "user_typing", { typing: true })).toMatchObject({ status: "error", response: { reason: "chat_inactive" } });
    expect(await env.db.db.select().from(messages)).toSatisfy((rows: unknown[]) => !rows.some((r) => (r as { content: string }).content === "too early"));

    // The event moves close: the room opens and every member hears it.
    await env.db.db.update(events).set({ startTime: new Date(Date.now() + 3_600_000), endTime: new Date(Date.now() + 7_200_000) }).where(eq(events.id, eventId));
    expect(await syncEventRoom(env, eventId)).toBe("activated");
    for (const m of [a, b]) await firstLogged(m.log, "room_status", { ms: 5000 });
    expect(a.log.find((x) => x.event === "room_status")!.payload).toEqual({ status: "active" });
    expect((await push(a.channel, "new_message", { content: "now we talk" })).status).toBe("ok");
    await expect.poll(() => b.log.find((m) => m.event === "new_message"), { timeout: 5000, message: "message after activation" }).toBeTruthy();
  });

  it("bad messages get their reason; a flood is rate limited per user; history pages back; nothing stored is lost", async () => {
    const { eventId, roomId } = await activeRoom();
    const [alice, bob] = [await createUser(env), await createUser(env)];
    await issueTicket(env, eventId, alice.id);
    await issueTicket(env, eventId, bob.id);
    const a = await client(0, alice.token).join(`event:${eventId}`);
    const b = await client(1, bob.token).join(`event:${eventId}`);
    const err = async (payload: Record<string, unknown>) => (await push(a.channel, "new_message", payload)).response;

    expect(await err({})).toMatchObject({ reason: "malformed_payload", field: "content" });
    expect(await err({ content: 42 })).toMatchObject({ reason: "malformed_payload", field: "content" });
    expect(await err({ content: { text: "hi" } })).toMatchObject({ reason: "malformed_payload", field: "content" });
    expect(await err({ content: "" })).toMatchObject({ reason: "empty_content", field: "content" });
    expect(await err({ content: "   \n " })).toMatchObject({ reason: "empty_content" });
    expect(await err({ content: "x".repeat(2001) })).toMatchObject({ reason: "content_too_long", field: "content", max: 2000 });
    expect(await err({ content: "nul\u0000byte" })).toMatchObject({ reason: "invalid_content", field: "content" });
    expect(await err({ content: "hi", content_type: "video" })).toMatchObject({ reason: "malformed_payload", field: "content_type" });
    expect(await push(a.channel, "user_typing", { typing: "yes" })).toMatchObject({ status: "error", response: { reason: "malformed_payload", field: "typing" } });
    expect(await push(a.channel, "dance", {})).toMatchObject({ status: "error", response: { reason: "unsupported_event" } });
    // 2000 emoji are 2000 characters (4000 UTF-16 units): allowed.
    expect((await push(a.channel, "new_message", { content: "🎉".repeat(2000) })).status).toBe("ok");

    const replies = [];
    for (let i = 0; i < RATE + 3; i++) replies.push(await push(a.channel, "new_message", { content: `flood ${i}` }));
    const ok = replies.filter((r) => r.status === "ok");
    expect(ok).toHaveLength(RATE - 1); // the emoji message took one slot
    const limited = replies.filter((r) => r.status === "error");
    expect(limited).toHaveLength(4);
    for (const r of limited) expect(r.response).toMatchObject({ reason: "rate_limited", retry_after_ms: expect.any(Number) });
    // The limit is per user: bob still talks.
    expect((await push(b.channel, "new_message", { content: "bob is fine" })).status).toBe("ok");

    const stored = await env.db.db.select().from(messages).where(and(eq(messages.chatRoomId, roomId), eq(messages.userId, alice.id)));
    expect(stored).toHaveLength(RATE);
    await expect.poll(() => b.log.filter((m) => m.event === "new_message").length, { timeout: 5000, message: "alice's messages on node 1" }).toBe(RATE);

    const page1 = await push(b.channel, "history", { limit: 2 });
    expect(page1.status).toBe("ok");
    const p1 = page1.response.messages as { id: string; content: string }[];
    expect(p1.map((m) => m.content)).toEqual([`flood ${RATE - 2}`, "bob is fine"]);
    expect(page1.response.more).toBe(true);
    const page2 = await push(b.channel, "history", { before: p1[0]!.id, limit: 2 });
    expect((page2.response.messages as { content: string }[]).map((m) => m.content)).toEqual([`flood ${RATE - 4}`, `flood ${RATE - 3}`]);
    expect(await push(b.channel, "history", { before: "nope" })).toMatchObject({ status: "error", response: { reason: "malformed_payload", field: "before" } });
    expect(await push(b.channel, "history", { before: randomUUID() })).toMatchObject({ status: "error", response: { reason: "malformed_payload", field: "before" } });
    expect(await push(b.channel, "history", { limit: 0 })).toMatchObject({ status: "error", response: { reason: "malformed_payload", field: "limit" } });

    // The nodes are alive and well after all of it.
    for (const n of cluster.nodes) expect((await fetch(`http://127.0.0.1:${n.port}/healthz`)).status).toBe(200);
  });
});
