import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createTokenSigner } from "@seatdrop/auth";
import { CloseCode } from "@seatdrop/protocol";
import type { TestEnv } from "../../../test/support/test-env.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { PhxClient, createEvent, createUser, push, seatIdsGrid, type TestCluster } from "../../../test/support/cluster.ts";
import { rawUpgrade } from "../../../test/support/raw-upgrade.ts";
import { RawPhx, until, type Frame, type Reply } from "../../../test/support/raw-phx.ts";

/**
 * Bad input on the Phoenix socket `/socket/websocket?vsn=2.0.0`: every bad frame gets its error
 * reply or its documented close code, the node keeps serving normal clients, and no seat is left
 * in a wrong state.
 */

let env: TestEnv;
let cluster: TestCluster;
const raws: RawPhx[] = [];
const phxClients: PhxClient[] = [];

const port = (node: number) => cluster.nodes[node]!.port;
const phxUrl = (node: number, query: Record<string, string> = {}) =>
  `ws://127.0.0.1:${port(node)}/socket/websocket?${new URLSearchParams({ vsn: "2.0.0", ...query }).toString()}`;

async function raw(node: number, token?: string): Promise<RawPhx> {
  const c = new RawPhx(phxUrl(node, token ? { token } : {}));
  raws.push(c);
  await c.opened();
  return c;
}

function stock(node: number, token?: string): PhxClient {
  const c = new PhxClient(port(node), token);
  phxClients.push(c);
  return c;
}

/** Two fresh 3-seat events, two users, and a raw socket of the first user's on node 0. */
async function twoEventsTwoUsers() {
  const [e1, e2] = [await createEvent(env, seatIdsGrid(1, 3)), await createEvent(env, seatIdsGrid(1, 3))];
  const [user, other] = [await createUser(env), await createUser(env)];
  const c = await raw(0, user.token);
  return { e1, e2, user, other, c };
}

/**
 * Another user, on node 1, locks `seat` in `e1` and then in `e2`; returns once `c` heard the lock on
 * `e2` (the barrier: anything about `e1` would have reached `c` before it).
 */
async function otherLocksInBoth(token: string, [e1, e2]: [string, string], seat: string, c: RawPhx): Promise<void> {
  const o = stock(1, token);
  const oc1 = await o.join(`seats:${e1}`);
  const oc2 = await o.join(`seats:${e2}`);
  expect((await push(oc1.channel, "lock", { seat })).status).toBe("ok");
  expect((await push(oc2.channel, "lock", { seat })).status).toBe("ok");
  await c.waitFor((f) => f[2] === `seats:${e2}` && f[3] === "locked", `locked on seats:${e2}`);
}

/** Joins the event on `c` and sends one lock push per seat without waiting for replies: the join's ref and the pushes' refs, in order. */
async function floodLocks(c: RawPhx, eventId: string, seats: string[]): Promise<{ joinRef: string; refs: string[] }> {
  const { joinRef } = await c.join(`seats:${eventId}`);
  const refs = seats.map((seat) => {
    const ref = c.ref();
    c.send([joinRef, ref, `seats:${eventId}`, "lock", { seat }]);
    return ref;
  });
  return { joinRef, refs };
}

/**
 * Proves the node still serves a normal client (the stock one: join, snapshot) and returns the
 * event's seat map as a fresh join sees it, with the hold of `token`'s user when given.
 */
async function freshView(node: number, eventId: string, token?: string): Promise<{ seats: Record<string, string>; hold: { seats: string[] } | null }> {
  const c = stock(node, token);
  const { reply } = await c.join(`seats:${eventId}`);
  expect(reply.mode).toBe("snapshot");
  await c.disconnect();
  return { seats: reply.seats as Record<string, string>, hold: reply.hold as { seats: string[] } | null };
}

/** The seat map with `locked` seats locked and every other seat available. */
function mapWith(all: string[], locked: string[]): Record<string, string> {
  return Object.fromEntries(all.map((s) => [s, locked.includes(s) ? "locked" : "available"]));
}

/** Both nodes still answer a heartbeat on a new socket. */
async function nodesAlive(): Promise<void> {
  for (const node of [0, 1]) {
    const c = await raw(node);
    expect(await c.heartbeat()).toEqual({ status: "ok", response: {} });
    c.close();
  }
}

const world = useCluster();
beforeAll(() => {
  env = world.env;
  cluster = world.cluster;
});
afterAll(async () => {
  for (const c of raws) c.close();
  await Promise.all(phxClients.map((c) => c.disconnect()));
});

describe("malformed frames on the Phoenix socket", () => {
  it("a frame that is not JSON closes the socket with 4400; a lock it held stays held", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 3));
    const user = await createUser(env);
    const c = await raw(0, user.token);
    const { joinRef, reply } = await c.join(`seats:${eventId}`);
    expect(reply.status).toBe("ok");
    expect(await c.push(joinRef, `seats:${eventId}`, "lock", { seat: "A_1" })).toMatchObject({ status: "ok", response: { seat: "A_1" } });
    c.send("this is not json");
    expect((await c.closed()).code).toBe(CloseCode.malformedFrame);
    expect((await c.closed()).code).toBe(4400);

    const view = await freshView(1, eventId, user.token);
    expect(view.seats).toEqual(mapWith(seatIdsGrid(1, 3), ["A_1"]));
    expect(view.hold?.seats).toEqual(["A_1"]);
    await nodesAlive();
  });

  it.each([
    ["a JSON object", '{"topic":"phoenix","event":"heartbeat"}'],
    ["an array of four", '[null,"1","phoenix","heartbeat"]'],
    ["an array of six", '[null,"1","phoenix","heartbeat",{},"extra"]'],
    ["a JSON string", '"heartbeat"'],
    ["JSON null", "null"],
    ["an empty array", "[]"],
    ["a ref that is an object", '[null,{"a":1},"phoenix","heartbeat",{}]'],
    ["a join_ref that is an array", '[["1"],"1","phoenix","heartbeat",{}]'],
  ])("%s closes the socket with 4400", async (_what, text) => {
    const c = await raw(0);
    c.send(text);
    expect((await c.closed()).code).toBe(4400);
    expect(c.frames).toEqual([]);
    await nodesAlive();
  });

  it("an array with a bad topic type gets a phx_reply error naming the field; the socket stays open", async () => {
    const c = await raw(0);
    c.send(["1", "7", 42, "phx_join", {}]);
    await until(() => c.frames.length > 0 || c.closeInfo, 8000, () => "a reply or a close");
    expect(c.closeInfo, "the socket was closed instead of answered").toBeUndefined();
    const f = await c.waitFor((x) => x[1] === "7" && x[3] === "phx_reply", "the error reply to a bad topic");
    expect(f[0]).toBe("1");
    expect(f[4]).toMatchObject({ status: "error", response: { reason: "malformed_frame", field: "topic" } });
    expect(c.closeInfo).toBeUndefined();
    expect(await c.heartbeat()).toEqual({ status: "ok", response: {} });
  });

  it("a non-object payload gets a phx_reply error with reason and field; the socket stays open", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 2));
    const c = await raw(0);
    for (const [i, payload] of (["a string", 42, null, ["seat", "A_1"], true] as unknown[]).entries()) {
      const ref = String(200 + i);
      c.send([ref, ref, `seats:${eventId}`, "phx_join", payload]);
      const r = await c.reply(ref);
      expect(r).toEqual({ status: "error", response: { reason: "malformed_payload", field: "payload" } });
      const f = c.repliesTo(ref);
      expect(f).toHaveLength(1);
      expect(f[0]!.slice(0, 4)).toEqual([ref, ref, `seats:${eventId}`, "phx_reply"]);
    }
    expect(c.closeInfo).toBeUndefined();
    // Nothing was joined by those frames.
    expect(await c.push("200", `seats:${eventId}`, "lock", { seat: "A_1" })).toMatchObject({ status: "error", response: { reason: "not_joined" } });
    const { reply } = await c.join(`seats:${eventId}`);
    expect(reply).toMatchObject({ status: "ok", response: { mode: "snapshot" } });
  });

  it("a frame bigger than WS_MAX_PAYLOAD closes the socket (uWS's own close: 1006, abnormal, no close frame)", async () => {
    expect(env.config.WS_MAX_PAYLOAD).toBe(16 * 1024);
    const eventId = await createEvent(env, seatIdsGrid(1, 2));
    const user = await createUser(env);
    const c = await raw(0, user.token);
    const { joinRef } = await c.join(`seats:${eventId}`);
    const big = JSON.stringify([joinRef, "9", `seats:${eventId}`, "lock", { seat: "A_1", pad: "x".repeat(env.config.WS_MAX_PAYLOAD) }]);
    expect(Buffer.byteLength(big)).toBeGreaterThan(env.config.WS_MAX_PAYLOAD);
    c.send(big);
    const closed = await c.closed();
    // uWS drops the TCP connection without a close frame ("Received too big message" on the server
    // side), so the client sees 1006, not the 1009 that CloseCode.tooBig documents.
    expect(closed).toEqual({ code: 1006, reason: "" });
    expect(c.repliesTo("9")).toEqual([]);
    // A frame just under the limit is fine (answered, not closed).
    const c2 = await raw(0, user.token);
    const j2 = await c2.join(`seats:${eventId}`);
    const fits = JSON.stringify([j2.joinRef, "9", `seats:${eventId}`, "lock", { seat: "A_2", pad: "" }]);
    c2.send(JSON.stringify([j2.joinRef, "9", `seats:${eventId}`, "lock", { seat: "A_2", pad: "x".repeat(env.config.WS_MAX_PAYLOAD - fits.length) }]));
    expect(await c2.reply("9")).toMatchObject({ status: "ok", response: { seat: "A_2" } });
    const view = await freshView(1, eventId);
    expect(view.seats).toEqual(mapWith(seatIdsGrid(1, 2), ["A_2"]));
    await nodesAlive();
  });

  it("a binary frame closes the socket with 4400", async () => {
    const c = await raw(1);
    c.ws.send(Buffer.from(JSON.stringify([null, "1", "phoenix", "heartbeat", {}])), { binary: true });
    expect((await c.closed()).code).toBe(4400);
    expect(c.frames).toEqual([]);
    await nodesAlive();
  });
});

describe("joins and pushes the socket cannot serve", () => {
  it("unknown topic, unknown event, push before join, bad last_seq", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 2));
    const user = await createUser(env);
    const c = await raw(0, user.token);

    for (const topic of ["nope:1", "rooms:lobby", "seats", "seats:", "user:someone", "constructor:x", "__proto__:x"]) {
      const { reply } = await c.join(topic);
      expect(reply, topic).toEqual({ status: "error", response: { reason: "unmatched topic" } });
    }

    const missing = await c.join(`seats:${randomUUID()}`);
    expect(missing.reply).toMatchObject({ status: "error", response: { reason: "unknown_event" } });
    const notUuid = await c.join("seats:not-a-uuid");
    expect(notUuid.reply).toMatchObject({ status: "error", response: { reason: "unknown_event" } });

    expect(await c.push("77", `seats:${eventId}`, "lock", { seat: "A_1" })).toMatchObject({ status: "error", response: { reason: "not_joined" } });
    expect(await c.push(null, `seats:${eventId}`, "lock", { seat: "A_1" })).toMatchObject({ status: "error", response: { reason: "not_joined" } });

    for (const lastSeq of ["abc", -1, 1.5, "3", {}]) {
      const r = await c.join(`seats:${eventId}`, { last_seq: lastSeq });
      expect(r.reply, JSON.stringify(lastSeq)).toMatchObject({ status: "error", response: { reason: "malformed_payload", field: "last_seq" } });
    }
    // A refused join leaves nothing joined.
    expect(await c.push(null, `seats:${eventId}`, "lock", { seat: "A_1" })).toMatchObject({ status: "error", response: { reason: "not_joined" } });
    expect(c.closeInfo).toBeUndefined();

    // The same socket still joins and locks normally.
    const ok = await c.join(`seats:${eventId}`);
    expect(ok.reply).toMatchObject({ status: "ok", response: { mode: "snapshot", user_id: user.id } });
    expect(await c.push(ok.joinRef, `seats:${eventId}`, "lock", { seat: "A_2" })).toMatchObject({ status: "ok" });
    const view = await freshView(1, eventId);
    expect(view.seats).toEqual(mapWith(seatIdsGrid(1, 2), ["A_2"]));
  });

  it("an event id in another letter case names the same event, or none: never a second seat map", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 3));
    const [u1, u2] = [await createUser(env), await createUser(env)];
    const lower = await raw(0, u1.token);
    const l = await lower.join(`seats:${eventId}`);
    expect(await lower.push(l.joinRef, `seats:${eventId}`, "lock", { seat: "A_1" })).toMatchObject({ status: "ok" });

    const upper = await raw(1, u2.token);
    const topic = `seats:${eventId.toUpperCase()}`;
    const u = await upper.join(topic);
    if (u.reply.status === "ok") {
      // If the other spelling is accepted, it must be the same seat map: A_1 is taken...
      expect((u.reply.response.seats as Record<string, string>).A_1, "the upper-case spelling has a seat map of its own").toBe("locked");
      expect(await upper.push(u.joinRef, topic, "lock", { seat: "A_1" })).toMatchObject({ status: "error", response: { reason: "already_locked" } });
      // ...and its pushes must come on the topic the client joined, or the stock client drops them.
      expect(await upper.push(u.joinRef, topic, "lock", { seat: "A_2" })).toMatchObject({ status: "ok" });
      expect(await lower.push(l.joinRef, `seats:${eventId}`, "lock", { seat: "A_3" })).toMatchObject({ status: "ok" });
      await upper.waitFor((f) => f[3] === "locked" && f[4].seat === "A_3", "locked A_3 on the upper-case join");
      const pushes = upper.frames.filter((f) => f[3] !== "phx_reply");
      expect(pushes).toEqual([
        [u.joinRef, null, topic, "lockedForYou", { seat: "A_2", seq: expect.any(Number) }],
        [null, null, topic, "locked", { seat: "A_3", seq: expect.any(Number) }],
      ]);
    } else {
      expect(u.reply.response.reason).toBe("unknown_event");
    }
    const view = await freshView(0, eventId);
    expect(view.seats.A_1).toBe("locked");
  });
});

describe("clients that vanish mid-request", () => {
  it("sockets closed right after a join or a lock push leave the node serving and no stray lock", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 30), { holdMaxSeats: 30 });
    const users = await Promise.all(Array.from({ length: 10 }, () => createUser(env)));
    const locked: string[] = [];
    for (const [i, u] of users.entries()) {
      const c = await raw(i % 2, u.token);
      // Join, then push before the join is answered (not_joined), then vanish at once.
      c.send(["1", "1", `seats:${eventId}`, "phx_join", {}]);
      c.send(["1", "2", `seats:${eventId}`, "lock", { seat: `A_${i + 1}` }]);
      c.ws.terminate();
    }
    for (const [i, u] of users.entries()) {
      const c = await raw(i % 2, u.token);
      const j = await c.join(`seats:${eventId}`);
      const seat = `A_${i + 11}`;
      c.send([j.joinRef, "9", `seats:${eventId}`, "lock", { seat }]);
      locked.push(seat); // the lock may or may not have run before the socket went; check below
      c.ws.terminate();
    }
    await nodesAlive();
    const view = await freshView(0, eventId);
    for (let i = 1; i <= 10; i++) expect(view.seats[`A_${i}`], `A_${i}`).toBe("available");
    for (let i = 21; i <= 30; i++) expect(view.seats[`A_${i}`], `A_${i}`).toBe("available");
    for (const [i, u] of users.entries()) {
      const v = await freshView(1, eventId, u.token);
      const mine = v.hold?.seats ?? [];
      expect(mine.every((s) => s === `A_${i + 11}`)).toBe(true);
      expect(v.seats[`A_${i + 11}`]).toBe(mine.length ? "locked" : "available");
    }
    expect(locked).toHaveLength(10);
  });
});

describe("upgrade refusals and the token subprotocol", () => {
  it("a bad token is refused with 401 invalid_token; an expired one with 401 token_expired", async () => {
    const bad = await rawUpgrade(port(0), "/socket/websocket?vsn=2.0.0&token=garbage");
    expect(bad.status).toBe(401);
    expect(bad.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(bad.body)).toMatchObject({ error: "invalid_token", message: expect.any(String) });

    const user = await createUser(env);
    const expired = await createTokenSigner(env.config).sign({ sub: user.id, role: "user" }, { ttlSeconds: -60 });
    const exp = await rawUpgrade(port(1), `/socket/websocket?vsn=2.0.0&token=${encodeURIComponent(expired)}`);
    expect(exp.status).toBe(401);
    expect(JSON.parse(exp.body)).toMatchObject({ error: "token_expired", message: expect.any(String) });

    const wrongKey = await createTokenSigner({ ...env.config, JWT_SECRET: "another-secret-another-secret-xx" }).sign({ sub: user.id, role: "user" });
    const wk = await rawUpgrade(port(0), `/socket/websocket?vsn=2.0.0&token=${encodeURIComponent(wrongKey)}`);
    expect(wk.status).toBe(401);
    expect(JSON.parse(wk.body)).toMatchObject({ error: "invalid_token" });

    // The same refusal through the `ws` client.
    const w = new WebSocket(phxUrl(0, { token: "garbage" }));
    const status = await new Promise<number>((resolve) => {
      w.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      w.on("open", () => resolve(101));
      w.on("error", () => {});
    });
    expect(status).toBe(401);
    await nodesAlive();
  });

  it("a token in the base64url.bearer.phx subprotocol is accepted; the server echoes phoenix, never the token", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 2));
    const user = await createUser(env);

    // As the stock client encodes it: standard base64, padding removed (may contain + and /, which
    // the `ws` client refuses to send, so this one goes as a bare HTTP upgrade).
    const stockProto = `base64url.bearer.phx.${Buffer.from(user.token).toString("base64").replace(/=/g, "")}`;
    const up = await rawUpgrade(port(0), "/socket/websocket?vsn=2.0.0", { "Sec-WebSocket-Protocol": `phoenix, ${stockProto}` });
    expect(up.status).toBe(101);
    expect(up.headers["sec-websocket-protocol"]).toBe("phoenix");

    // A garbage token in the subprotocol is refused like one in the query.
    const garbage = await rawUpgrade(port(0), "/socket/websocket?vsn=2.0.0", {
      "Sec-WebSocket-Protocol": `phoenix, base64url.bearer.phx.${Buffer.from("garbage").toString("base64").replace(/=/g, "")}`,
    });
    expect(garbage.status).toBe(401);
    expect(JSON.parse(garbage.body)).toMatchObject({ error: "invalid_token" });

    // Through `ws` with the url-safe alphabet: the socket speaks for the token's user.
    const proto = `base64url.bearer.phx.${Buffer.from(user.token).toString("base64url")}`;
    const c = new RawPhx(phxUrl(1), ["phoenix", proto]);
    raws.push(c);
    await c.opened();
    expect(c.ws.protocol).toBe("phoenix");
    const j = await c.join(`seats:${eventId}`);
    expect(j.reply).toMatchObject({ status: "ok", response: { user_id: user.id } });
    expect(await c.push(j.joinRef, `seats:${eventId}`, "lock", { seat: "A_1" })).toMatchObject({ status: "ok" });
    const view = await freshView(0, eventId, user.token);
    expect(view.hold?.seats).toEqual(["A_1"]);
  });

  it("vsn=1.0.0 is refused with 400", async () => {
    const r = await rawUpgrade(port(0), "/socket/websocket?vsn=1.0.0");
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ error: "unsupported_vsn" });
    await nodesAlive();
  });
});

describe("a flood of pushes", () => {
  it("200 lock pushes as fast as possible: one reply each, some rate_limited, the locked seats really held", async () => {
    const all = seatIdsGrid(10, 20);
    const eventId = await createEvent(env, all, { holdMaxSeats: all.length });
    const user = await createUser(env);
    const other = await raw(1);
    const o = await other.join(`seats:${eventId}`);
    expect(o.reply.status).toBe("ok");
    const c = await raw(0, user.token);
    const { refs } = await floodLocks(c, eventId, all);
    await until(() => refs.every((r) => c.repliesTo(r).length > 0), 20_000, () => `a reply to each of ${refs.length} pushes`);
    for (const r of refs) expect(c.repliesTo(r), `replies to ${r}`).toHaveLength(1);
    expect(c.closeInfo).toBeUndefined();

    const replies = refs.map((r) => c.repliesTo(r)[0]![4] as unknown as Reply);
    const okSeats = replies.flatMap((r, i) => (r.status === "ok" ? [all[i]!] : []));
    const limited = replies.filter((r) => r.status === "error" && r.response.reason === "rate_limited");
    expect(okSeats.length + limited.length).toBe(refs.length);
    expect(limited.length).toBeGreaterThan(0);
    // The bucket starts full (burst 40) and the join took one (every frame counts): the
    // first 39 pushes all went through.
    expect(replies.slice(0, env.config.WS_PUSH_BURST - 1).every((r) => r.status === "ok")).toBe(true);
    for (const [i, r] of replies.entries()) if (r.status === "ok") expect(r.response.seat).toBe(all[i]);

    const view = await freshView(1, eventId, user.token);
    expect(view.seats).toEqual(mapWith(all, okSeats));
    expect([...(view.hold?.seats ?? [])].sort()).toEqual([...okSeats].sort());
    // The watcher heard exactly the seats that were locked.
    await until(() => other.frames.filter((f) => f[3] === "locked").length >= okSeats.length, 8000, () => "the watcher's locked pushes");
    expect(other.frames.filter((f) => f[3] === "locked").map((f) => f[4].seat).sort()).toEqual([...okSeats].sort());
    expect(await c.heartbeat()).toEqual({ status: "ok", response: {} });
    await nodesAlive();
  });

  it("kept flooding past 200 refusals in a row: closed with 4429, at most one reply per push, nothing crashes", async () => {
    const all = seatIdsGrid(20, 50);
    const eventId = await createEvent(env, all, { holdMaxSeats: all.length });
    const user = await createUser(env);
    const c = await raw(0, user.token);
    const { joinRef, refs } = await floodLocks(c, eventId, all);
    const closed = await c.closed(20_000);
    expect(closed.code).toBe(CloseCode.rateLimited);
    expect(closed.code).toBe(4429);

    const replies = c.frames.filter((f) => f[3] === "phx_reply" && f[1] !== joinRef);
    const seen = new Set(replies.map((f) => f[1]));
    expect(seen.size).toBe(replies.length);
    for (const f of replies) expect(refs).toContain(f[1]);
    const limited = replies.filter((f) => (f[4] as unknown as Reply).response.reason === "rate_limited");
    // The rule (conn.ts, takeFrameToken): the 201st refusal in a row closes instead of answering.
    expect(limited.length).toBeGreaterThanOrEqual(200);
    expect(replies.length).toBeLessThan(refs.length);

    const okSeats = replies.filter((f) => (f[4] as unknown as Reply).status === "ok").map((f) => all[refs.indexOf(f[1]!)]!);
    const view = await freshView(1, eventId, user.token);
    const held = Object.entries(view.seats).filter(([, s]) => s === "locked").map(([id]) => id);
    for (const s of okSeats) expect(held).toContain(s);
    expect([...(view.hold?.seats ?? [])].sort()).toEqual([...held].sort());
    // Only pushes that were not refused can have locked anything.
    const refusedSeats = new Set(limited.map((f) => all[refs.indexOf(f[1]!)]!));
    for (const s of held) expect(refusedSeats.has(s)).toBe(false);
    await nodesAlive();
  });
});

describe("heartbeat, leave and rejoin", () => {
  it("answers a heartbeat with an ok reply on topic phoenix", async () => {
    const c = await raw(0);
    c.send('[null,"5","phoenix","heartbeat",{}]');
    await c.waitFor((f) => f[1] === "5", "the heartbeat reply");
    expect(c.raw).toEqual(['[null,"5","phoenix","phx_reply",{"status":"ok","response":{}}]']);
    c.send(["1", "6", "phoenix", "dance", {}]);
    expect(await c.reply("6")).toMatchObject({ status: "error", response: { reason: "unsupported_event" } });
    expect(c.closeInfo).toBeUndefined();
  });

  it("phx_leave: ok reply, then phx_close; nothing more arrives for the topic and pushes are not_joined", async () => {
    const { e1, e2, user, other, c } = await twoEventsTwoUsers();
    const j1 = await c.join(`seats:${e1}`);
    const j2 = await c.join(`seats:${e2}`);
    expect(await c.push(j1.joinRef, `seats:${e1}`, "lock", { seat: "A_1" })).toMatchObject({ status: "ok" });

    const leaveRef = c.ref();
    c.send([j1.joinRef, leaveRef, `seats:${e1}`, "phx_leave", {}]);
    await c.waitFor((f) => f[3] === "phx_close" && f[2] === `seats:${e1}`, "phx_close");
    const iReply = c.raw.indexOf(JSON.stringify([j1.joinRef, leaveRef, `seats:${e1}`, "phx_reply", { status: "ok", response: {} }]));
    const iClose = c.raw.indexOf(JSON.stringify([j1.joinRef, j1.joinRef, `seats:${e1}`, "phx_close", {}]));
    expect(iReply).toBeGreaterThanOrEqual(0);
    expect(iClose).toBe(iReply + 1);

    expect(await c.push(j1.joinRef, `seats:${e1}`, "lock", { seat: "A_2" })).toMatchObject({ status: "error", response: { reason: "not_joined" } });

    // Another user's lock on the left topic must not arrive; one on the still-joined topic is the barrier.
    await otherLocksInBoth(other.token, [e1, e2], "A_3", c);
    expect(c.frames.filter((f) => f[2] === `seats:${e1}` && f[3] === "locked")).toEqual([]);

    // Leaving does not release the hold: the lock is still the user's.
    const view = await freshView(1, e1, user.token);
    expect(view.seats).toEqual({ A_1: "locked", A_2: "available", A_3: "locked" });
    expect(view.hold?.seats).toEqual(["A_1"]);
  });

  it("a second phx_join of a joined topic closes the old join first; the old join_ref is dead, events arrive once", async () => {
    const { e1, e2, user, other, c } = await twoEventsTwoUsers();
    const first = await c.join(`seats:${e1}`);
    expect(first.reply.status).toBe("ok");
    const j2 = await c.join(`seats:${e2}`);
    const second = await c.join(`seats:${e1}`);
    expect(second.reply).toMatchObject({ status: "ok", response: { mode: "snapshot" } });
    const iClose = c.raw.indexOf(JSON.stringify([first.joinRef, first.joinRef, `seats:${e1}`, "phx_close", {}]));
    const iReply = c.frames.findIndex((f) => f[1] === second.joinRef && f[3] === "phx_reply");
    expect(iClose).toBeGreaterThanOrEqual(0);
    expect(iClose).toBeLessThan(iReply);

    expect(await c.push(first.joinRef, `seats:${e1}`, "lock", { seat: "A_1" })).toMatchObject({ status: "error", response: { reason: "not_joined" } });
    expect(await c.push(second.joinRef, `seats:${e1}`, "lock", { seat: "A_1" })).toMatchObject({ status: "ok", response: { seat: "A_1" } });

    await otherLocksInBoth(other.token, [e1, e2], "A_2", c);
    const locked = c.frames.filter((f) => f[2] === `seats:${e1}` && f[3] === "locked");
    expect(locked).toEqual([[null, null, `seats:${e1}`, "locked", { seat: "A_2", seq: expect.any(Number) }]]);
    // The author's own push: once, to the live join.
    const mine = c.frames.filter((f) => f[3] === "lockedForYou");
    expect(mine).toEqual([[second.joinRef, null, `seats:${e1}`, "lockedForYou", { seat: "A_1", seq: expect.any(Number) }]]);
    expect(j2.reply.status).toBe("ok");

    const view = await freshView(1, e1, user.token);
    expect(view.seats).toEqual({ A_1: "locked", A_2: "locked", A_3: "available" });
    expect(view.hold?.seats).toEqual(["A_1"]);
  });
});

