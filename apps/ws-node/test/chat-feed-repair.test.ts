import { randomUUID } from "node:crypto";
import type { Channel } from "phoenix";
import { describe, expect, it } from "vitest";
import { createUser, push } from "../../../test/support/cluster.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { createChatEvent, issueTicket, syncEventRoom } from "./chat-support.ts";

const w = useCluster({}, { worker: false });

/**
 * A room's feed against the real Redis: a publish lost on the way is filled from the room's log,
 * and a room Redis lost (a new epoch) makes members rejoin rather than continue a broken order.
 */
async function roomWithMembers() {
  const { eventId } = await createChatEvent(w.env);
  expect(await syncEventRoom(w.env, eventId)).toBe("activated");
  const [alice, bob] = [await createUser(w.env), await createUser(w.env)];
  await issueTicket(w.env, eventId, alice.id);
  await issueTicket(w.env, eventId, bob.id);
  return { eventId, alice, bob };
}

/** Appends an event to the room's order as chatEmit does (atomically: presence diffs emit too), but publishes nothing. */
async function loseChatPublish(eventId: string, ev: Record<string, unknown>): Promise<number> {
  const k = w.env.keys.chat(eventId);
  const script = "local s = redis.call('HINCRBY', KEYS[1], 'n', 1) redis.call('XADD', KEYS[2], s .. '-1', 'm', ARGV[1], 'o', '') return s";
  return (await w.env.redis.eval(script, 2, k.seq, k.log, JSON.stringify(ev))) as number;
}

/** Every ok join reply of a channel: the first (phoenix.js replays it at once), then each rejoin's. */
function joinReplies(channel: Channel): Record<string, unknown>[] {
  const replies: Record<string, unknown>[] = [];
  (channel as unknown as { joinPush: { receive(s: string, cb: (r: Record<string, unknown>) => void): void } }).joinPush.receive("ok", (r) => replies.push(r));
  return replies;
}

describe("chat room feed repair against the real Redis", () => {
  it("a message whose publish was lost is delivered from the room's log, before the next one", async () => {
    const { eventId, alice, bob } = await roomWithMembers();
    const listener = await w.client(0, alice.token).join(`event:${eventId}`);
    const speaker = await w.client(1, bob.token).join(`event:${eventId}`);
    // Written into the room's order exactly as chatEmit does, but never published.
    const lostId = randomUUID();
    await loseChatPublish(eventId, { k: "message", id: lostId, user_id: bob.id, content: "lost on the way", content_type: "text", inserted_at: new Date().toISOString() });

    const sent = await push(speaker.channel, "new_message", { content: "after the loss" });
    expect(sent.status).toBe("ok");
    const heard = () => listener.log.filter((m) => m.event === "new_message").map((m) => [m.payload.id, m.payload.content]);
    await expect.poll(heard, { timeout: 5000 }).toHaveLength(2);
    expect(heard()).toEqual([
      [lostId, "lost on the way"],
      [sent.response.id, "after the loss"],
    ]);
  });

  it("after Redis lost the room (a new epoch), members on every node rejoin and read the new message from history", async () => {
    const { eventId, alice, bob } = await roomWithMembers();
    const listener = await w.client(0, alice.token).join(`event:${eventId}`);
    const speaker = await w.client(1, bob.token).join(`event:${eventId}`);
    const listenerJoins = joinReplies(listener.channel);
    const speakerJoins = joinReplies(speaker.channel);
    expect([listenerJoins.length, speakerJoins.length]).toEqual([1, 1]);
    expect((await push(speaker.channel, "new_message", { content: "before the loss" })).status).toBe("ok");
    await expect.poll(() => listener.log.filter((m) => m.event === "new_message").length, { timeout: 5000 }).toBe(1);

    // Redis loses the room's order (a flush, a failover without persistence): the next emit starts
    // a new epoch at seq 1.
    const k = w.env.keys.chat(eventId);
    await w.env.redis.del(k.seq, k.log);
    const sent = await push(speaker.channel, "new_message", { content: "in the new epoch" });
    expect(sent.status).toBe("ok");

    expect([listenerJoins.length, speakerJoins.length]).toEqual([1, 1]);
    await expect.poll(() => listenerJoins.length, { timeout: 5000 }).toBe(2);
    await expect.poll(() => speakerJoins.length, { timeout: 5000 }).toBe(2);
    const history = (listenerJoins.at(-1)!.messages as { content: string }[]).map((m) => m.content);
    expect(history).toEqual(["before the loss", "in the new epoch"]);
    // The new epoch's message was not also pushed live on top of the old order.
    expect(listener.log.filter((m) => m.event === "new_message").map((m) => m.payload.content)).toEqual(["before the loss"]);
  });
});
