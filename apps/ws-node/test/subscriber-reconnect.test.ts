import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createEvent, createUser, push, seatIdsGrid } from "../../../test/support/cluster.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { createChatEvent, issueTicket, syncEventRoom } from "./chat-support.ts";

const w = useCluster({}, { worker: false });

/**
 * Redis client ids of node `i`'s subscriber. Connections are named `sdc-<role>-<prefix>-<nodeId>`,
 * and the prefix is this file's own: other files run in parallel against the same Redis, and their
 * subscribers are never touched.
 */
async function subscriberIds(i: number): Promise<string[]> {
  // Both of the node's subscriber connections: the plain channels' and the sharded channels' (`-sharded`).
  const name = `sdc-subscriber-${w.env.config.REDIS_PREFIX}-${w.cluster.nodes[i]!.nodeId}`;
  const list = (await w.env.redis.client("LIST")) as string;
  return list
    .split("\n")
    .filter((line) => line.includes(` name=${name} `) || line.includes(` name=${name}-sharded `))
    .map((line) => /(?:^|\s)id=(\d+)/.exec(line)![1]!);
}

/** Drops node `i`'s subscriber connections (only them) and waits until ioredis has reconnected both. */
async function killSubscriber(i: number): Promise<void> {
  const ids = await subscriberIds(i);
  expect(ids, "the node's two named subscriber connections").toHaveLength(2);
  const other = await subscriberIds(1 - i);
  expect(other).toHaveLength(2);
  for (const id of ids) await w.env.redis.client("KILL", "ID", id);
  await expect.poll(async () => (await subscriberIds(i)).filter((id) => !ids.includes(id)).length, { timeout: 10_000 }).toBe(2);
  expect((await subscriberIds(1 - i)).sort()).toEqual(other.sort()); // the other node kept its connections
}

/** Writes an event into a seat stream as the scripts do, without publishing it: only the log knows. */
async function loseSeatPublish(eventId: string, seat: string): Promise<number> {
  const k = w.env.keys.event(eventId);
  const seq = await w.env.redis.incr(k.seq);
  await w.env.redis.xadd(k.log, `${seq}-1`, "d", JSON.stringify({ t: "unlocked", seat, u: "ghost", seq }));
  return seq;
}

/** Writes a chat message into a room's order as chatEmit does (atomically), without publishing it. */
async function loseChatPublish(eventId: string, userId: string, content: string): Promise<{ seq: number; id: string }> {
  const k = w.env.keys.chat(eventId);
  const id = randomUUID();
  const ev = { k: "message", id, user_id: userId, content, content_type: "text", inserted_at: new Date().toISOString() };
  const script = "local s = redis.call('HINCRBY', KEYS[1], 'n', 1) redis.call('XADD', KEYS[2], s .. '-1', 'm', ARGV[1], 'o', '') return s";
  const seq = (await w.env.redis.eval(script, 2, k.seq, k.log, JSON.stringify(ev))) as number;
  return { seq, id };
}

describe("the subscriber connection's reconnect and catch-up (real Redis, CLIENT KILL)", () => {
  it("after its subscriber reconnects, a node delivers from the log what pub/sub did not, with no later publish, and keeps routing every channel", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 4));
    const [u1, u2, alice, bob] = [await createUser(w.env), await createUser(w.env), await createUser(w.env), await createUser(w.env)];
    const watcher = await w.client(0, u1.token).join(`seats:${eventId}`);
    const buyer = await w.client(1, u2.token).join(`seats:${eventId}`);
    const chat = await createChatEvent(w.env);
    expect(await syncEventRoom(w.env, chat.eventId)).toBe("activated");
    await issueTicket(w.env, chat.eventId, alice.id);
    await issueTicket(w.env, chat.eventId, bob.id);
    const member = await w.client(0, alice.token).join(`event:${chat.eventId}`);
    const speaker = await w.client(1, bob.token).join(`event:${chat.eventId}`);
    // Both joins' presence is announced (node 0 heard bob join): no publish of the room is still on
    // its way to node 0, which would reveal the gap below without any catch-up.
    await expect
      .poll(() => member.log.some((m) => m.event === "presence_diff" && bob.id in (m.payload.joins as object)), { timeout: 5000 })
      .toBe(true);

    // Published while node 0 was not listening: nothing later on either stream reveals the gap.
    const lostSeat = await loseSeatPublish(eventId, "A_4");
    const lostChat = await loseChatPublish(chat.eventId, bob.id, "said while node 0 was away");
    await killSubscriber(0);

    await expect.poll(() => watcher.log.map((m) => [m.event, m.payload.seat, m.payload.seq]), { timeout: 5000 }).toEqual([["unlocked", "A_4", lostSeat]]);
    await expect.poll(() => member.log.filter((m) => m.event === "new_message").map((m) => m.payload.id), { timeout: 5000 }).toEqual([lostChat.id]);

    // The resubscribed channels deliver live again, in order after what was caught up.
    expect((await push(buyer.channel, "lock", { seat: "A_1" })).response.seq).toBe(lostSeat + 1);
    await expect.poll(() => watcher.log.map((m) => m.payload.seq), { timeout: 5000 }).toEqual([lostSeat, lostSeat + 1]);
    expect((await push(speaker.channel, "new_message", { content: "live again" })).status).toBe("ok");
    await expect.poll(() => member.log.filter((m) => m.event === "new_message").map((m) => m.payload.content), { timeout: 5000 }).toEqual([
      "said while node 0 was away",
      "live again",
    ]);
  });
});
