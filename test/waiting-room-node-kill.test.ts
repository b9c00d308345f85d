import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { WaitingRooms } from "@seatdrop/queue";
import { SeatService } from "@seatdrop/seats";
import { startChildNode, type ChildNode } from "./support/child-node.ts";
import { PhxClient, createUser, eventually, push, seatIdsGrid, type Received } from "./support/cluster.ts";
import { createTestEnv, type TestEnv } from "./support/test-env.ts";
import { buyHold, createRoomEvent } from "./support/waiting-room.ts";

/**
 * kill -9 of the ws-node that holds a waiting room's lease while it admits: the other node takes
 * the lease and goes on admitting, the killed node's waiters reconnect to the survivor and find
 * their place or their admission (one place per user, kept in Redis), nobody is admitted twice and
 * no seat is sold twice.
 */
const QUICK = { QUEUE_TICK_MS: "100", QUEUE_POSITION_MS: "200", WS_HOLD_SWEEP_MS: "200" };
let env: TestEnv;
const nodes: ChildNode[] = [];
const clients: PhxClient[] = [];

beforeAll(async () => {
  env = await createTestEnv(QUICK);
  for (const nodeId of ["kill-a", "kill-b"]) nodes.push(await startChildNode(env, { nodeId, overrides: QUICK }));
}, 60_000);
afterAll(async () => {
  await Promise.all(clients.map((c) => c.disconnect()));
  for (const n of nodes) await n.kill();
  await env?.close();
}, 60_000);

interface Buyer {
  userId: string;
  token: string;
  node: number;
  client: PhxClient;
  log: Received[];
  bought: string[];
}

describe("a ws-node killed while admitting", () => {
  it("hands the room to the other node; nobody is admitted twice, no seat sold twice", { timeout: 90_000 }, async () => {
    const seatIds = seatIdsGrid(3, 10);
    const { eventId } = await createRoomEvent(env, seatIds, { opensAt: new Date(Date.now() - 2000), salesOpenAt: new Date(Date.now() - 1000), maxActive: 4 });
    const logger = createLogger("test", "silent");
    const rooms = new WaitingRooms({ redis: env.redis, keys: env.keys, config: env.config, logger, db: env.db.db });
    await rooms.ensureLoaded(eventId);
    await rooms.draw(eventId);
    const seats = new SeatService({ redis: env.redis, keys: env.keys, config: env.config, logger, db: env.db.db });
    const errors: unknown[] = [];

    /** Joins the room on `node` and buys one seat when admitted. */
    const enter = async (b: Buyer, node: number) => {
      b.node = node;
      b.client = new PhxClient(nodes[node]!.port, b.token, { reconnectAfterMs: 3_600_000 });
      clients.push(b.client);
      const { channel, log, reply } = await b.client.join(`queue:${eventId}`);
      b.log = log;
      const shop = async (pass: string) => {
        const map = await b.client.join(`seats:${eventId}`, { changes: true, pass });
        for (const seat of seatIds) {
          if ((await push(map.channel, "lock", { seat })).status === "ok") break;
        }
        b.bought = await buyHold(seats, eventId, b.userId);
        channel.leave();
      };
      if (reply.state === "admitted") shop(reply.pass as string).catch((e: unknown) => errors.push(e));
      const onMessage = channel.onMessage;
      channel.onMessage = (event, payload, ref) => {
        if (event === "admitted") shop((payload as { pass: string }).pass).catch((e: unknown) => errors.push(e));
        return onMessage.call(channel, event, payload, ref);
      };
    };
    const buyers: Buyer[] = [];
    for (let i = 0; i < 24; i++) {
      const u = await createUser(env);
      const b = { userId: u.id, token: u.token, node: 0, client: undefined as unknown as PhxClient, log: [], bought: [] } as Buyer;
      buyers.push(b);
      await enter(b, i % 2);
    }
    const meta = env.keys.room(eventId).meta;
    // Kill the node holding the lease once admission is under way.
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        void env.redis.hget(meta, "admittedTotal").then((n) => {
          if (Number(n) >= 8) {
            clearInterval(t);
            resolve();
          }
        });
      }, 50);
    });
    const holder = await env.redis.get(env.keys.room(eventId).lease);
    const victim = nodes.findIndex((n) => n.nodeId === holder);
    expect(victim).toBeGreaterThanOrEqual(0);
    const survivor = 1 - victim;
    await nodes[victim]!.kill();
    const admittedAtKill = Number(await env.redis.hget(meta, "admittedTotal"));
    // The killed node's buyers who had not bought yet come back through the survivor (as a balancer would send them).
    const moved = buyers.filter((b) => b.node === victim && b.bought.length === 0);
    for (const b of moved) await enter(b, survivor);

    await eventually(() => buyers.every((b) => b.bought.length > 0) || undefined, 60_000, "every buyer bought a seat");
    expect(errors).toEqual([]);
    expect(await env.redis.get(env.keys.room(eventId).lease)).toBe(nodes[survivor]!.nodeId);
    expect(Number(await env.redis.hget(meta, "admittedTotal"))).toBe(buyers.length);
    const sold = buyers.flatMap((b) => b.bought);
    expect(new Set(sold).size).toBe(sold.length);
    const state = await env.redis.hgetall(env.keys.event(eventId).state);
    expect(Object.values(state).filter((v) => v.startsWith("P|"))).toHaveLength(sold.length);
    console.log(
      `[waiting room × kill -9] lease holder killed after ${admittedAtKill} admissions; ${moved.length} buyers moved to the survivor; ` +
        `24 of 24 admitted once each (admittedTotal ${buyers.length}), ${sold.length} seats sold, 0 twice`,
    );
  });
});
