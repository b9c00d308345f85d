import { beforeAll, describe, expect, it } from "vitest";
import type { ApiApp } from "../src/app.ts";
import type { TestEnv } from "../../../test/support/test-env.ts";
import { createUser, push } from "../../../test/support/cluster.ts";
import { createChatEvent, issueTicket, syncEventRoom } from "../../ws-node/test/chat-support.ts";
import { useClusterWithApi } from "../../../test/support/use-cluster.ts";
import { adminToken, bearer } from "./api-harness.ts";

/**
 * An admin sets a room's slow mode through the API; it holds on every node at once (the rate script
 * every node runs reads it), members hear `slow_mode`, and a member who must wait gets
 * `rate_limited` with `retry_after_ms`, whichever node they write through.
 */
let env: TestEnv;
let app: ApiApp;
let admin: string;

const world = useClusterWithApi({ CHAT_RATE: "1000" }, { worker: false });
const client = (node: number, token?: string) => world.client(node, token);
beforeAll(async () => {
  ({ env, app } = world);
  admin = await adminToken({ env, app, close: async () => {} });
});

describe("slow mode", () => {
  it("an admin's slow mode holds across both nodes, members hear it, and turning it off lifts it", async () => {
    const { eventId } = await createChatEvent(env, { startInMs: 60_000 });
    await syncEventRoom(env, eventId);
    const [alice, bob] = [await createUser(env), await createUser(env)];
    await issueTicket(env, eventId, alice.id);
    await issueTicket(env, eventId, bob.id);
    const topic = `event:${eventId}`;
    const aliceTabs = [await client(0, alice.token).join(topic), await client(1, alice.token).join(topic)];
    const bobJoin = await client(1, bob.token).join(topic);

    // Without slow mode, two quick messages pass.
    expect((await push(aliceTabs[0]!.channel, "new_message", { content: "one" })).status).toBe("ok");
    expect((await push(aliceTabs[0]!.channel, "new_message", { content: "two" })).status).toBe("ok");

    // Bad input is named; members may not set it.
    const bad = await app.inject({ method: "PUT", url: `/api/events/${eventId}/chat_room/slow_mode`, headers: bearer(admin), payload: { seconds: -1 } });
    expect(bad.statusCode).toBe(422);
    const notAdmin = await app.inject({ method: "PUT", url: `/api/events/${eventId}/chat_room/slow_mode`, headers: bearer(alice.token), payload: { seconds: 30 } });
    expect(notAdmin.statusCode).toBe(403);

    const set = await app.inject({ method: "PUT", url: `/api/events/${eventId}/chat_room/slow_mode`, headers: bearer(admin), payload: { seconds: 30 } });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toEqual({ event_id: eventId, seconds: 30 });
    await expect.poll(() => bobJoin.log.some((r) => r.event === "slow_mode" && r.payload.seconds === 30), { timeout: 5000, message: "members hear slow_mode" }).toBeTruthy();

    // One message per member per 30 s, across nodes: alice's second tab on the other node must wait too.
    expect((await push(aliceTabs[0]!.channel, "new_message", { content: "slow one" })).status).toBe("ok");
    const second = await push(aliceTabs[1]!.channel, "new_message", { content: "too soon" });
    expect(second.response).toMatchObject({ reason: "rate_limited", slow_mode: true });
    expect(second.response.retry_after_ms).toBeGreaterThan(25_000);
    // Bob has his own allowance.
    expect((await push(bobJoin.channel, "new_message", { content: "bob" })).status).toBe("ok");

    const off = await app.inject({ method: "PUT", url: `/api/events/${eventId}/chat_room/slow_mode`, headers: bearer(admin), payload: { seconds: 0 } });
    expect(off.statusCode).toBe(200);
    expect((await push(aliceTabs[1]!.channel, "new_message", { content: "free again" })).status).toBe("ok");
  });
});
