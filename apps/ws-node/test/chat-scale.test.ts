import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { Presence, type Channel } from "phoenix";
import { createTokenSigner } from "@seatdrop/auth";
import { messages, tickets, users } from "@seatdrop/db";
import type { TestEnv } from "../../../test/support/test-env.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { PhxClient, createUser, eventually, push, type Received, type TestCluster } from "../../../test/support/cluster.ts";
import { RawPhx, phxUrl } from "../../../test/support/raw-phx.ts";
import { createChatEvent, issueTicket, syncEventRoom } from "./chat-support.ts";

/**
 * Chat at concert scale, on two nodes with stock `phoenix` clients: coalesced presence through a
 * join storm, group commit (order, exactly once), `messages` frames, the overload refusal, and the
 * removal of a refunded member.
 */
let env: TestEnv;
let cluster: TestCluster;
const client = (node: number, token?: string) => world.client(node, token);

// No overload refusal here (CHAT_QUEUE_MAX_MS high): these tests count every message; the last describe tests the refusal.
const world = useCluster({ CHAT_RATE: "1000", WS_PUSH_RATE: "1000", WS_PUSH_BURST: "1000", CHAT_TICKET_RECHECK_MS: "300", CHAT_QUEUE_MAX_MS: "60000" }, { nodes: 2, worker: false });
beforeAll(() => {
  env = world.env;
  cluster = world.cluster;
});

/** N users with a ticket each for the event, in two statements. */
async function members(eventId: string, n: number): Promise<{ id: string; token: string }[]> {
  const signer = createTokenSigner(env.config);
  const ids = Array.from({ length: n }, () => randomUUID());
  await env.db.db.insert(users).values(ids.map((id) => ({ id, username: `u-${id}`, email: `${id}@test.local`, passwordHash: "scrypt$unused", role: "user" as const })));
  await env.db.db.insert(tickets).values(ids.map((id) => ({ eventId, ticketNumber: `S-${id}`, userId: id })));
  return Promise.all(ids.map(async (id) => ({ id, token: await signer.sign({ sub: id, role: "user" }) })));
}

async function activeRoom(): Promise<{ eventId: string; roomId: string; topic: string }> {
  const { eventId, roomId } = await createChatEvent(env, { startInMs: 60_000 });
  await syncEventRoom(env, eventId);
  return { eventId, roomId, topic: `event:${eventId}` };
}

function joinWithPresence(c: PhxClient, topic: string, params: Record<string, unknown> = {}): Promise<{ channel: Channel; presence: Presence; log: Received[] }> {
  const channel = c.socket.channel(topic, params);
  const presence = new Presence(channel);
  const log: Received[] = [];
  channel.onMessage = (event: string, payload: unknown) => {
    if (!event.startsWith("phx_") && !event.startsWith("chan_reply_")) log.push({ event, payload: payload as Record<string, unknown> });
    return payload;
  };
  return new Promise((resolve, reject) => {
    channel
      .join()
      .receive("ok", () => resolve({ channel, presence, log }))
      .receive("error", (e: unknown) => reject(new Error(JSON.stringify(e))));
  });
}

const listed = (p: Presence) => p.list((id: string) => id).sort();

describe("chat at concert scale", () => {
  it("stock Presence shows the right list on both nodes through a join storm, with one diff per tick, not per join", async () => {
    const { eventId, topic } = await activeRoom();
    const people = await members(eventId, 240);
    const [w0, w1] = [await joinWithPresence(client(0, people[0]!.token), topic), await joinWithPresence(client(1, people[1]!.token), topic)];
    await eventually(() => listed(w0.presence).length === 2 && listed(w1.presence).length === 2, 5000, "the two watchers see each other");
    const diffsBefore = w0.log.filter((r) => r.event === "presence_diff").length;

    // The storm: everyone else joins at once, spread over both nodes.
    const storm = await Promise.all(people.slice(2).map((p, i) => joinWithPresence(client(i % 2, p.token), topic)));
    const everyone = people.map((p) => p.id).sort();
    await eventually(() => JSON.stringify(listed(w0.presence)) === JSON.stringify(everyone) && JSON.stringify(listed(w1.presence)) === JSON.stringify(everyone), 20_000, "the watchers list everyone");
    // Late joiners got the whole room in their presence_state too.
    for (const s of storm.slice(-5)) await eventually(() => JSON.stringify(listed(s.presence)) === JSON.stringify(everyone), 10_000, "a late joiner lists everyone");

    // 238 joins reached each watcher in far fewer diffs than joins (one per node tick at most).
    const diffs = w0.log.filter((r) => r.event === "presence_diff").length - diffsBefore;
    expect(diffs).toBeGreaterThan(0);
    expect(diffs).toBeLessThan(238 / 2);

    // Half of the storm leaves; both watchers drop exactly them.
    const leaving = storm.filter((_, i) => i % 2 === 0);
    await Promise.all(leaving.map((s) => new Promise<void>((r) => s.channel.leave().receive("ok", () => r()))));
    const stay = people.filter((_, i) => i < 2 || (i - 2) % 2 === 1).map((p) => p.id).sort();
    await eventually(() => JSON.stringify(listed(w0.presence)) === JSON.stringify(stay) && JSON.stringify(listed(w1.presence)) === JSON.stringify(stay), 10_000, "the watchers drop the leavers");
  });

  it("group commit: concurrent senders on two nodes are acked once stored, exactly once, each sender's messages in order, one order for everyone", async () => {
    const { eventId, roomId, topic } = await activeRoom();
    const people = await members(eventId, 30);
    const joined = await Promise.all(people.map((p, i) => client(i % 2, p.token).join(topic)));
    const PER = 8;
    const seqBefore = Number(await env.redis.hget(env.keys.chat(eventId).seq, "n"));
    // Every member sends PER messages back to back without waiting for the acks.
    const acks = await Promise.all(
      joined.map((j, i) => Promise.all(Array.from({ length: PER }, (_, k) => push(j.channel, "new_message", { content: `m ${i} ${k}` })))),
    );
    const ids = acks.flat().map((a) => {
      expect(a.status).toBe("ok");
      return a.response.id as string;
    });
    expect(new Set(ids).size).toBe(people.length * PER);
    // Stored exactly once each, nothing else.
    const rows = await env.db.db.select({ id: messages.id, content: messages.content }).from(messages).where(eq(messages.chatRoomId, roomId));
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    // Fewer sequence steps than messages: groups were stored and announced together.
    const seqAfter = Number(await env.redis.hget(env.keys.chat(eventId).seq, "n"));
    expect(seqAfter - seqBefore).toBeLessThan(people.length * PER);

    // Every member hears every other member's messages once, in one order shared by all, each sender's in the order sent.
    const expectedFor = (i: number) => people.length * PER - PER;
    const heard = await Promise.all(
      joined.map((j, i) => eventually(() => {
        const got = j.log.filter((r) => r.event === "new_message");
        return got.length >= expectedFor(i) ? got : undefined;
      }, 15_000, "every message delivered")),
    );
    const order = new Map(ids.map((id) => [id, -1]));
    for (const [i, got] of heard.entries()) {
      expect(got.length).toBe(expectedFor(i));
      const seen = got.map((r) => r.payload.id as string);
      expect(new Set(seen).size).toBe(seen.length);
      for (let s = 0; s < people.length; s++) {
        if (s === i) continue;
        const mine = got.filter((r) => (r.payload.content as string).startsWith(`m ${s} `)).map((r) => Number((r.payload.content as string).split(" ")[2]));
        expect(mine).toEqual(Array.from({ length: PER }, (_, k) => k));
      }
      // Pairwise: two receivers agree on the relative order of messages they both received.
      const pos = new Map(seen.map((id, p) => [id, p]));
      if (i > 0) {
        const prev = heard[0]!.map((r) => r.payload.id as string).filter((id) => pos.has(id));
        const mineSorted = [...prev].sort((a, b) => pos.get(a)! - pos.get(b)!);
        expect(mineSorted).toEqual(prev);
      }
    }
    void order;
    // History shows each sender's messages in the order sent.
    const page = await push(joined[0]!.channel, "history", { limit: 50 });
    const hist = (page.response.messages as { content: string }[]).map((m) => m.content.split(" "));
    for (let s = 0; s < people.length; s++) {
      const ks = hist.filter((h) => h[1] === String(s)).map((h) => Number(h[2]));
      expect(ks).toEqual([...ks].sort((a, b) => a - b));
    }
  });

  it('members who join with {"batch": true} get one `messages` frame per tick, in order; others keep new_message', async () => {
    const { eventId, topic } = await activeRoom();
    const [author, batcher, classic] = await members(eventId, 3);
    const a = await client(0, author!.token).join(topic);
    const b = await client(1, batcher!.token).join(topic, { batch: true });
    const c = await client(1, classic!.token).join(topic);
    const N = 20;
    const acks = await Promise.all(Array.from({ length: N }, (_, k) => push(a.channel, "new_message", { content: `b ${k}` })));
    expect(acks.every((x) => x.status === "ok")).toBe(true);
    const frames = await eventually(() => {
      const f = b.log.filter((r) => r.event === "messages");
      return f.flatMap((x) => x.payload.messages as { content: string }[]).length >= N ? f : undefined;
    }, 10_000, "batched messages");
    const contents = frames.flatMap((x) => (x.payload.messages as { content: string }[]).map((m) => m.content));
    expect(contents).toEqual(Array.from({ length: N }, (_, k) => `b ${k}`));
    expect(frames.length).toBeLessThan(N);
    expect(b.log.some((r) => r.event === "new_message")).toBe(false);
    await eventually(() => c.log.filter((r) => r.event === "new_message").length >= N, 10_000, "classic member's new_message pushes");
    expect(c.log.filter((r) => r.event === "new_message").map((r) => r.payload.content)).toEqual(contents);
    expect(c.log.some((r) => r.event === "messages")).toBe(false);
    // A bad value is named.
    await expect(client(0, (await members(eventId, 1))[0]!.token).join(topic, { batch: "yes" })).rejects.toMatchObject({ reply: { reason: "malformed_payload", field: "batch" } });
  });

  it("a refunded member no longer reads the room, types or gets history", async () => {
    const { eventId, topic } = await activeRoom();
    const [keeper, refunded] = [await createUser(env), await createUser(env)];
    await issueTicket(env, eventId, keeper.id);
    const t = await issueTicket(env, eventId, refunded.id);
    const k = await client(0, keeper.token).join(topic);
    const r = await client(1, refunded.token).join(topic);
    expect((await push(r.channel, "history", {})).status).toBe("ok");
    // A raw socket of theirs too, which (unlike the stock client) keeps pushing on a closed channel.
    const raw = new RawPhx(phxUrl(cluster.nodes[0]!.port, { token: refunded.token }));
    try {
      await raw.opened();
      const rawJoin = await raw.join(topic);
      expect(rawJoin.reply.status).toBe("ok");
      const typingFromRefunded = () => k.log.filter((x) => x.event === "user_typing" && x.payload.user_id === refunded.id);
      // Before the refund their typing reaches the others (so its absence later means something).
      expect((await raw.push(rawJoin.joinRef, topic, "user_typing", { typing: true })).status).toBe("ok");
      await eventually(() => typingFromRefunded().length === 1, 5000, "the keeper to hear the refunded member type");
      await env.db.db.update(tickets).set({ status: "void" }).where(eq(tickets.id, t.id));
      const voidedAt = Date.now();
      // Within CHAT_TICKET_RECHECK_MS the node removes them: access_revoked, and the channel is closed
      // (the stock client does not rejoin).
      await eventually(() => r.log.some((x) => x.event === "access_revoked"), 5000, "access_revoked");
      const revokedIn = Date.now() - voidedAt;
      await eventually(() => r.channel.state === "closed", 5000, "channel closed");
      await raw.waitFor((f) => f[2] === topic && f[3] === "access_revoked", "access_revoked on the raw socket");
      // Pushes on the old channel are refused: it is no longer joined. `typing: false` is not
      // throttled by the `typing: true` above, so nothing but the refusal keeps it from the room.
      const typing = await raw.push(rawJoin.joinRef, topic, "user_typing", { typing: false });
      const history = await raw.push(rawJoin.joinRef, topic, "history", {});
      expect(typing).toMatchObject({ status: "error", response: { reason: "not_joined" } });
      expect(history).toMatchObject({ status: "error", response: { reason: "not_joined" } });
      expect(history.response.messages).toBeUndefined();
      // A new socket of theirs can neither get back in nor type or page back.
      const again = client(0, refunded.token);
      const rejoin = again.join(topic);
      await expect(rejoin).rejects.toMatchObject({ reply: { reason: "unauthorized" } });
      await push(k.channel, "new_message", { content: "after the refund" });
      await new Promise((res) => setTimeout(res, 300));
      expect(r.log.some((x) => x.event === "new_message")).toBe(false);
      expect(raw.frames.some((f) => f[3] === "new_message")).toBe(false);
      expect(typingFromRefunded()).toHaveLength(1); // the one before the refund
      const refusedAs = await rejoin.then(() => "ok", (e: { reply?: { reason?: string } }) => String(e.reply?.reason));
      console.log(
        `refunded member: access_revoked ${revokedIn} ms after the ticket turned void (recheck every ${env.config.CHAT_TICKET_RECHECK_MS} ms), channel ${r.channel.state}; a new join refused ${refusedAs}; on the old channel user_typing refused ${String(typing.response.reason)}, history refused ${String(history.response.reason)}; typing from them heard by the keeper after the refund ${typingFromRefunded().length - 1}; ${r.log.filter((x) => x.event === "new_message").length + raw.frames.filter((f) => f[3] === "new_message").length} messages reached them after`,
      );
    } finally {
      raw.close();
    }
  });
});

describe("overload is visible", () => {
  it("a room whose pipeline is behind refuses new messages at once with rate_limited and retry_after_ms; refused ones are not stored", async () => {
    const own = await import("../../../test/support/test-env.ts").then((m) => m.createTestEnv({ CHAT_RATE: "1000", WS_PUSH_RATE: "1000", WS_PUSH_BURST: "1000", CHAT_QUEUE_MAX_MS: "1", CHAT_BATCH_MAX: "2" }));
    const { startCluster } = await import("../../../test/support/cluster.ts");
    const small = await startCluster(own, { nodes: 1, worker: false });
    const local: PhxClient[] = [];
    try {
      const { eventId, roomId } = await createChatEvent(own, { startInMs: 60_000 });
      await syncEventRoom(own, eventId);
      const signer = createTokenSigner(own.config);
      const ids = Array.from({ length: 20 }, () => randomUUID());
      await own.db.db.insert(users).values(ids.map((id) => ({ id, username: `u-${id}`, email: `${id}@test.local`, passwordHash: "scrypt$unused", role: "user" as const })));
      await own.db.db.insert(tickets).values(ids.map((id) => ({ eventId, ticketNumber: `O-${id}`, userId: id })));
      const joined = await Promise.all(
        ids.map(async (id) => {
          const c = new PhxClient(small.nodes[0]!.port, await signer.sign({ sub: id, role: "user" }));
          local.push(c);
          return c.join(`event:${eventId}`);
        }),
      );
      const results = (await Promise.all(joined.map((j) => Promise.all(Array.from({ length: 10 }, (_, k) => push(j.channel, "new_message", { content: `o ${k}` })))))).flat();
      const ok = results.filter((r) => r.status === "ok");
      const refused = results.filter((r) => r.status === "error");
      expect(ok.length).toBeGreaterThan(0);
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) {
        expect(r.response.reason).toBe("rate_limited");
        expect(r.response.retry_after_ms).toBeGreaterThan(0);
      }
      const rows = await own.db.db.select({ id: messages.id }).from(messages).where(eq(messages.chatRoomId, roomId));
      expect(rows.map((x) => x.id).sort()).toEqual(ok.map((r) => r.response.id as string).sort());
    } finally {
      await Promise.all(local.map((c) => c.disconnect()));
      await small.close();
      await own.close();
    }
  });
});

describe("large rooms", () => {
  it("above CHAT_PRESENCE_LIST_MAX members see the online count and the presence of the room's speakers, not the whole list", async () => {
    const own = await import("../../../test/support/test-env.ts").then((m) => m.createTestEnv({ CHAT_RATE: "1000", CHAT_PRESENCE_LIST_MAX: "5" }));
    const { startCluster } = await import("../../../test/support/cluster.ts");
    const small = await startCluster(own, { nodes: 2, worker: false });
    const local: PhxClient[] = [];
    try {
      const { eventId } = await createChatEvent(own, { startInMs: 60_000 });
      await syncEventRoom(own, eventId);
      const signer = createTokenSigner(own.config);
      const ids = Array.from({ length: 9 }, () => randomUUID());
      await own.db.db.insert(users).values(ids.map((id) => ({ id, username: `u-${id}`, email: `${id}@test.local`, passwordHash: "scrypt$unused", role: "user" as const })));
      await own.db.db.insert(tickets).values(ids.map((id) => ({ eventId, ticketNumber: `L-${id}`, userId: id })));
      const topic = `event:${eventId}`;
      const joined = [];
      for (const [i, id] of ids.entries()) {
        const c = new PhxClient(small.nodes[i % 2]!.port, await signer.sign({ sub: id, role: "user" }));
        local.push(c);
        joined.push(await joinWithPresence(c, topic));
      }
      const [first, last] = [joined[0]!, joined[8]!];
      // Past the bound the whole list is replaced by the speakers' (none yet) and the count.
      const countOf = (j: { log: Received[] }) => [...j.log].reverse().find((r) => r.event === "presence_count")?.payload.online;
      await eventually(() => countOf(first) === 9 && countOf(last) === 9, 10_000, "presence_count 9");
      await eventually(() => listed(first.presence).length === 0 && listed(last.presence).length === 0, 10_000, "no list");
      // Whoever speaks shows up, on both nodes.
      expect((await push(joined[3]!.channel, "new_message", { content: "hello" })).status).toBe("ok");
      await eventually(() => JSON.stringify(listed(first.presence)) === JSON.stringify([ids[3]]) && JSON.stringify(listed(last.presence)) === JSON.stringify([ids[3]]), 10_000, "the speaker listed");
      // Back under 90 % of the bound (4 of 5), everyone is listed again.
      for (const j of [joined[2]!, ...joined.slice(4, 8)]) await new Promise<void>((r) => j.channel.leave().receive("ok", () => r()));
      const stay = [ids[0], ids[1], ids[3], ids[8]].sort();
      await eventually(() => JSON.stringify(listed(first.presence)) === JSON.stringify(stay) && JSON.stringify(listed(last.presence)) === JSON.stringify(stay), 10_000, "the whole list again");
    } finally {
      await Promise.all(local.map((c) => c.disconnect()));
      await small.close();
      await own.close();
    }
  });
});
