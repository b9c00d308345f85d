import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Presence, type Channel } from "phoenix";
import type { TestEnv } from "../../../test/support/test-env.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { startChildNode, type ChildNode } from "../../../test/support/child-node.ts";
import { PhxClient, createUser, type TestCluster } from "../../../test/support/cluster.ts";
import { createChatEvent, issueTicket, syncEventRoom } from "./chat-support.ts";

let env: TestEnv;
let cluster: TestCluster;
/** Node 2 runs in its own process, so its crash is a real kill -9 (no close handler, no leaves written). */
let crashing: ChildNode;
const clients: PhxClient[] = [];
const client = (node: number, token?: string) => {
  const c = new PhxClient(node === 2 ? crashing.port : cluster.nodes[node]!.port, token);
  clients.push(c);
  return c;
};

// A short heartbeat TTL, so a dead node is noticed within about a second.
const PRESENCE_TTL = { CHAT_PRESENCE_TTL_MS: "1000" };
const world = useCluster(PRESENCE_TTL, { nodes: 2, worker: false });
beforeAll(async () => {
  env = world.env;
  cluster = world.cluster;
  crashing = await startChildNode(env, { overrides: PRESENCE_TTL });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.disconnect()));
  await crashing?.kill();
});

/** Joins with the stock client's Presence attached before the join, as an app would. */
function joinWithPresence(c: PhxClient, topic: string): Promise<{ channel: Channel; presence: Presence }> {
  const channel = c.socket.channel(topic, {});
  const presence = new Presence(channel);
  return new Promise((resolve, reject) => {
    channel
      .join()
      .receive("ok", () => resolve({ channel, presence }))
      .receive("error", (e: unknown) => reject(new Error(JSON.stringify(e))));
  });
}

/** user id → number of metas (connections), as the stock Presence lists them. */
function who(p: Presence): Record<string, number> {
  const out: Record<string, number> = {};
  p.list((id: string, { metas }: { metas: unknown[] }) => (out[id] = metas.length));
  return out;
}

const sameAs = (want: Record<string, number>) => (p: Presence) => JSON.stringify(Object.entries(who(p)).sort()) === JSON.stringify(Object.entries(want).sort());

describe("chat presence across nodes (phoenix Presence)", () => {
  it("counts every tab of a user once per connection, across nodes; a leave and a clean stop remove them; a crashed node's users leave within seconds", async () => {
    const { eventId } = await createChatEvent(env, { startInMs: 3_600_000 });
    await syncEventRoom(env, eventId);
    const [alice, bob, carol, dan] = [await createUser(env), await createUser(env), await createUser(env), await createUser(env)];
    for (const u of [alice, bob, carol, dan]) await issueTicket(env, eventId, u.id);
    const topic = `event:${eventId}`;

    const watcher = await joinWithPresence(client(0, carol.token), topic);
    await expect.poll(() => sameAs({ [carol.id]: 1 })(watcher.presence), { timeout: 5000, message: "carol alone" }).toBeTruthy();

    const aliceTab1 = await joinWithPresence(client(0, alice.token), topic);
    await joinWithPresence(client(1, alice.token), topic); // alice's second tab, on another node
    await joinWithPresence(client(2, alice.token), topic); // and a third, on the node that will crash
    await joinWithPresence(client(2, bob.token), topic);
    const danOnNode1 = await joinWithPresence(client(1, dan.token), topic);
    await expect.poll(() => sameAs({ [carol.id]: 1, [alice.id]: 3, [bob.id]: 1, [dan.id]: 1 })(watcher.presence), { timeout: 5000, message: "everyone, alice thrice" }).toBeTruthy();
    // A member on another node sees the same room.
    await expect.poll(() => sameAs({ [carol.id]: 1, [alice.id]: 3, [bob.id]: 1, [dan.id]: 1 })(danOnNode1.presence), { timeout: 5000, message: "the same on node 1" }).toBeTruthy();

    // One tab leaves: alice stays, with one meta fewer.
    aliceTab1.channel.leave();
    await expect.poll(() => sameAs({ [carol.id]: 1, [alice.id]: 2, [bob.id]: 1, [dan.id]: 1 })(watcher.presence), { timeout: 5000, message: "alice's tab left" }).toBeTruthy();

    // Node 2 dies without a word (kill -9): its heartbeat lapses and the other nodes announce the leaves.
    await crashing.kill();
    await expect.poll(() => sameAs({ [carol.id]: 1, [alice.id]: 1, [dan.id]: 1 })(watcher.presence), { timeout: 10_000, message: "node 2's users gone" }).toBeTruthy();
    await expect.poll(() => sameAs({ [carol.id]: 1, [alice.id]: 1, [dan.id]: 1 })(danOnNode1.presence), { timeout: 5000, message: "the same on node 1" }).toBeTruthy();

    // Node 1 stops cleanly: its users leave at once.
    await cluster.nodes[1]!.close();
    await expect.poll(() => sameAs({ [carol.id]: 1 })(watcher.presence), { timeout: 5000, message: "node 1's users gone" }).toBeTruthy();
    const entries = await env.redis.hvals(env.keys.chat(eventId).presence);
    expect(entries.map((e) => JSON.parse(e).user_id)).toEqual([carol.id]);

    // A late joiner's presence_state is the same truth.
    const late = await joinWithPresence(client(0, bob.token), topic);
    await expect.poll(() => sameAs({ [carol.id]: 1, [bob.id]: 1 })(late.presence), { timeout: 5000, message: "late joiner's state" }).toBeTruthy();
  });
});
