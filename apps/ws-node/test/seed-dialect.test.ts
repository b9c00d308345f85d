import { randomUUID } from "node:crypto";
import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import type { TestEnv } from "../../../test/support/test-env.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { PhxClient, createEvent, createUser, firstLogged, push, seatIdsGrid, type TestCluster } from "../../../test/support/cluster.ts";
import { rawUpgrade } from "../../../test/support/raw-upgrade.ts";
import { until } from "../../../test/support/raw-phx.ts";

/**
 * The legacy seat dialect on `/` (kept so the original seat server's clients work unchanged): its
 * JSON frames verbatim, `startstate` on connect,
 * the backend actions guarded by `authorizationString`, across two real ws-nodes, a real worker,
 * Redis and PostgreSQL.
 */

let env: TestEnv;
let cluster: TestCluster;
const sockets: SeedClient[] = [];
const phxClients: PhxClient[] = [];

interface SeedFrame {
  event: string;
  data: unknown;
}

/** A raw `ws` client of the legacy seat dialect that records every frame it gets, parsed and verbatim. */
class SeedClient {
  readonly frames: SeedFrame[] = [];
  readonly raw: string[] = [];
  readonly ws: WebSocket;
  closeInfo: { code: number; reason: string } | undefined;
  /** Set when the upgrade was refused: the HTTP status and body. */
  refused: { status: number; body: string } | undefined;
  error: Error | undefined;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on("message", (data: WebSocket.RawData) => {
      const text = Buffer.isBuffer(data) ? data.toString("utf8") : Buffer.concat(data as Buffer[]).toString("utf8");
      this.raw.push(text);
      this.frames.push(JSON.parse(text) as SeedFrame);
    });
    this.ws.on("close", (code: number, reason: Buffer) => (this.closeInfo = { code, reason: reason.toString() }));
    this.ws.on("unexpected-response", (_req: http.ClientRequest, res: http.IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => (this.refused = { status: res.statusCode ?? 0, body }));
    });
    this.ws.on("error", (err: Error) => (this.error = err));
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The first recorded frame (already received or still to come) that matches. */
  waitFor(pred: (f: SeedFrame) => boolean, what = "a frame", ms = 8000): Promise<SeedFrame> {
    return until(() => this.frames.find(pred), ms, () => `${what}; got ${JSON.stringify(this.frames)}`);
  }

  /** Waits for `{"event": event, "data": data}` exactly. */
  waitForFrame(event: string, data: unknown, ms = 8000): Promise<SeedFrame> {
    return this.waitFor((f) => f.event === event && isDeepEqual(f.data, data), `${event} ${JSON.stringify(data)}`, ms);
  }

  has(event: string, data?: unknown): boolean {
    return this.frames.some((f) => f.event === event && (data === undefined || isDeepEqual(f.data, data)));
  }

  closed(ms = 8000): Promise<{ code: number; reason: string }> {
    return vi.waitFor(
      () => {
        const found = this.closeInfo;
        if (!found) throw new Error("still waiting for the socket to close");
        return found;
      },
      { timeout: ms },
    );
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }
}


function isDeepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function seedUrl(node: number, query: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, v);
  const s = q.toString();
  return `ws://127.0.0.1:${cluster.nodes[node]!.port}/${s ? `?${s}` : ""}`;
}

/** Opens a seed connection; does not wait for anything. */
function open(node: number, query: Record<string, string | undefined>): SeedClient {
  const c = new SeedClient(seedUrl(node, query));
  sockets.push(c);
  return c;
}

/** Opens a seed connection to an event and waits for its `startstate`. */
async function connect(node: number, eventId: string, token?: string): Promise<SeedClient> {
  const c = open(node, { event: eventId, token });
  await c.waitFor((f) => f.event === "startstate", "startstate");
  return c;
}

/** Alice on node 0 and Bob on node 1, each connected with a token to a fresh event. */
async function twoUsersOnTwoNodes(
  seats: string[],
  opts?: Parameters<typeof createEvent>[2],
): Promise<{ eventId: string; a: SeedClient; b: SeedClient }> {
  const eventId = await createEvent(env, seats, opts);
  const [alice, bob] = [await createUser(env), await createUser(env)];
  const a = await connect(0, eventId, alice.token);
  const b = await connect(1, eventId, bob.token);
  return { eventId, a, b };
}

type StartState = { reserved: string[]; paid: string[]; locked: string[] };

/** A fresh connection's `startstate`, arrays sorted. */
async function startstate(node: number, eventId: string): Promise<StartState> {
  const c = await connect(node, eventId);
  const f = c.frames[0]!;
  expect(f.event).toBe("startstate");
  const d = f.data as StartState;
  c.close();
  return { reserved: [...d.reserved].sort(), paid: [...d.paid].sort(), locked: [...d.locked].sort() };
}

const SECRET = () => env.config.SERVICE_SECRET;

const world = useCluster();
beforeAll(() => {
  env = world.env;
  cluster = world.cluster;
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await Promise.all(phxClients.map((c) => c.disconnect()));
});

describe("legacy seat dialect on / (two ws-nodes)", () => {
  it("sends startstate first: empty for a fresh event, with exactly reserved/paid/locked", async () => {
    const eventId = await createEvent(env, seatIdsGrid(2, 5));
    const c = await connect(0, eventId);
    expect(c.raw[0]).toBe('{"event":"startstate","data":{"reserved":[],"paid":[],"locked":[]}}');
    expect(c.frames[0]).toEqual({ event: "startstate", data: { reserved: [], paid: [], locked: [] } });
    expect(Object.keys(c.frames[0]!.data as object)).toEqual(["reserved", "paid", "locked"]);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("a new connection's startstate lists the locked, reserved and paid seats", async () => {
    const eventId = await createEvent(env, seatIdsGrid(2, 5));
    const alice = await createUser(env);
    const a = await connect(0, eventId, alice.token);
    a.send({ action: "lock", seat: "A_1" });
    a.send({ action: "lock", seat: "A_3" });
    await a.waitForFrame("lockedForYou", "A_1");
    await a.waitForFrame("lockedForYou", "A_3");
    const svc = await connect(1, eventId);
    svc.send({ action: "reserve", seat: "B_1", authorizationString: SECRET() });
    svc.send({ action: "pay", seat: "B_2", authorizationString: SECRET() });
    await svc.waitForFrame("reserved", "B_1");
    await svc.waitForFrame("paid", "B_2");
    for (const node of [0, 1]) {
      expect(await startstate(node, eventId)).toEqual({ reserved: ["B_1"], paid: ["B_2"], locked: ["A_1", "A_3"] });
    }
  });

  it("lock: the author gets lockedForYou, a client on the other node gets locked, the author never gets locked", async () => {
    const { eventId, a, b } = await twoUsersOnTwoNodes(seatIdsGrid(1, 5));

    a.send({ action: "lock", seat: "A_2" });
    await a.waitForFrame("lockedForYou", "A_2");
    await b.waitForFrame("locked", "A_2");
    expect(a.raw).toContain('{"event":"lockedForYou","data":"A_2"}');
    expect(b.raw).toContain('{"event":"locked","data":"A_2"}');

    // Barrier: a later event reaches the author after anything about A_2 would have.
    b.send({ action: "lock", seat: "A_3" });
    await a.waitForFrame("locked", "A_3");
    await b.waitForFrame("lockedForYou", "A_3");
    expect(a.has("locked", "A_2")).toBe(false);
    expect(b.has("lockedForYou", "A_2")).toBe(false);
    expect(b.has("locked", "A_3")).toBe(false);
    expect(a.frames.filter((f) => f.data === "A_2").map((f) => f.event)).toEqual(["lockedForYou"]);
  });

  it("refusals: alreadyLocked, notYours, alreadyUnlocked; own unlock gives unlockedForYou / unlocked", async () => {
    const { eventId, a, b } = await twoUsersOnTwoNodes(seatIdsGrid(1, 5));
    a.send({ action: "lock", seat: "A_2" });
    await a.waitForFrame("lockedForYou", "A_2");
    await b.waitForFrame("locked", "A_2");

    b.send({ action: "lock", seat: "A_2" });
    await b.waitForFrame("alreadyLocked", "A_2");
    expect(b.raw).toContain('{"event":"alreadyLocked","data":"A_2"}');
    b.send({ action: "unlock", seat: "A_2" });
    await b.waitForFrame("notYours", "A_2");
    expect(b.raw).toContain('{"event":"notYours","data":"A_2"}');
    b.send({ action: "unlock", seat: "A_4" });
    await b.waitForFrame("alreadyUnlocked", "A_4");
    expect(b.raw).toContain('{"event":"alreadyUnlocked","data":"A_4"}');
    // None of the refusals changed anything.
    expect(await startstate(1, eventId)).toEqual({ reserved: [], paid: [], locked: ["A_2"] });

    a.send({ action: "unlock", seat: "A_2" });
    await a.waitForFrame("unlockedForYou", "A_2");
    await b.waitForFrame("unlocked", "A_2");
    expect(a.raw).toContain('{"event":"unlockedForYou","data":"A_2"}');
    expect(b.raw).toContain('{"event":"unlocked","data":"A_2"}');
    b.send({ action: "lock", seat: "A_5" });
    await a.waitForFrame("locked", "A_5");
    expect(a.has("unlocked", "A_2")).toBe(false);
    expect(b.has("unlockedForYou", "A_2")).toBe(false);
    expect(await startstate(0, eventId)).toEqual({ reserved: [], paid: [], locked: ["A_5"] });
  });

  it("lock and unlock without a token answer unauthorized and change nothing", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 3));
    const bob = await createUser(env);
    const b = await connect(1, eventId, bob.token);
    b.send({ action: "lock", seat: "A_3" });
    await b.waitForFrame("lockedForYou", "A_3");

    const anon = await connect(0, eventId);
    anon.send({ action: "lock", seat: "A_1" });
    await expect.poll(() => anon.frames.filter((f) => f.event === "unauthorized").length, { timeout: 8000, message: "unauthorized (lock)" }).toBe(1);
    anon.send({ action: "unlock", seat: "A_3" });
    await expect.poll(() => anon.frames.filter((f) => f.event === "unauthorized").length, { timeout: 8000, message: "unauthorized (unlock)" }).toBe(2);
    const expected = '{"event":"unauthorized","data":"You are unauthorized to do this."}';
    expect(anon.raw.filter((r) => r.includes('"unauthorized"'))).toEqual([expected, expected]);
    expect(await startstate(1, eventId)).toEqual({ reserved: [], paid: [], locked: ["A_3"] });
  });

  it("backend actions with the service secret are heard by everyone on both nodes", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 5));
    const svc = await connect(0, eventId);
    const w0 = await connect(0, eventId);
    const w1 = await connect(1, eventId);
    const all = [svc, w0, w1];
    const expectAll = async (event: string, seat: string) => {
      for (const c of all) await c.waitForFrame(event, seat);
      for (const c of all) expect(c.raw).toContain(JSON.stringify({ event, data: seat }));
    };

    svc.send({ action: "reserve", seat: "A_1", authorizationString: SECRET() });
    await expectAll("reserved", "A_1");
    expect(await startstate(1, eventId)).toEqual({ reserved: ["A_1"], paid: [], locked: [] });

    svc.send({ action: "unreserve", seat: "A_1", authorizationString: SECRET() });
    await expectAll("unreserved", "A_1");
    svc.send({ action: "pay", seat: "A_2", authorizationString: SECRET() });
    await expectAll("paid", "A_2");
    expect(await startstate(1, eventId)).toEqual({ reserved: [], paid: ["A_2"], locked: [] });

    svc.send({ action: "revoke", seat: "A_2", authorizationString: SECRET() });
    await expectAll("revoked", "A_2");
    svc.send({ action: "reserve", seat: "A_3", authorizationString: SECRET() });
    await expectAll("reserved", "A_3");
    svc.send({ action: "revoke", seat: "A_3", authorizationString: SECRET() });
    await expectAll("revoked", "A_3");
    expect(await startstate(0, eventId)).toEqual({ reserved: [], paid: [], locked: [] });
  });

  it("a reserve takes a locked seat out of its user's hold; everyone hears reserved", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 3));
    const alice = await createUser(env);
    const a = await connect(0, eventId, alice.token);
    a.send({ action: "lock", seat: "A_1" });
    await a.waitForFrame("lockedForYou", "A_1");
    const svc = await connect(1, eventId);
    svc.send({ action: "reserve", seat: "A_1", authorizationString: SECRET() });
    await a.waitForFrame("reserved", "A_1");
    await svc.waitForFrame("reserved", "A_1");
    expect(await startstate(0, eventId)).toEqual({ reserved: ["A_1"], paid: [], locked: [] });
    a.send({ action: "unlock", seat: "A_1" });
    await a.waitForFrame("notYours", "A_1"); // the seat is no longer in the user's hold
  });

  it("backend actions with a wrong or missing authorizationString are unauthorized and change nothing", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 4));
    const user = await createUser(env);
    const svc = await connect(0, eventId, user.token); // a user's token is no service secret
    const w = await connect(1, eventId);
    const wrongs: Record<string, unknown>[] = [
      { action: "reserve", seat: "A_1", authorizationString: "wrong" },
      { action: "reserve", seat: "A_1" },
      { action: "pay", seat: "A_2", authorizationString: `${SECRET().slice(0, -1)}X` }, // same length, one byte off
      { action: "pay", seat: "A_2", authorizationString: "" },
      { action: "revoke", seat: "A_3", authorizationString: `${SECRET()} ` },
      { action: "unreserve", seat: "A_4", authorizationString: SECRET().toUpperCase() },
    ];
    for (let i = 0; i < wrongs.length; i++) {
      svc.send(wrongs[i]);
      await expect.poll(() => svc.frames.filter((f) => f.event === "unauthorized").length === i + 1, { timeout: 8000, message: `unauthorized #${i + 1}` }).toBeTruthy();
    }
    expect(svc.frames.filter((f) => f.event === "unauthorized")).toEqual(
      wrongs.map(() => ({ event: "unauthorized", data: "You are unauthorized to do this." })),
    );
    // Barrier: a real change afterwards reaches the watcher after anything the refused ones would have sent.
    svc.send({ action: "reserve", seat: "A_4", authorizationString: SECRET() });
    await w.waitForFrame("reserved", "A_4");
    expect(w.frames.map((f) => f.event)).toEqual(["startstate", "reserved"]);
    expect(await startstate(1, eventId)).toEqual({ reserved: ["A_4"], paid: [], locked: [] });
  });

  it("cross-dialect: Phoenix locks reach legacy-dialect clients, legacy-dialect locks and reserves reach Phoenix watchers", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 5));
    const [alice, bob] = [await createUser(env), await createUser(env)];
    const pc = new PhxClient(cluster.nodes[0]!.port, alice.token);
    phxClients.push(pc);
    const p = await pc.join(`seats:${eventId}`);
    const s = await connect(1, eventId, bob.token);

    expect(await push(p.channel, "lock", { seat: "A_1" })).toMatchObject({ status: "ok", response: { seat: "A_1" } });
    await s.waitForFrame("locked", "A_1");
    expect(s.raw).toContain('{"event":"locked","data":"A_1"}');

    s.send({ action: "lock", seat: "A_2" });
    await s.waitForFrame("lockedForYou", "A_2");
    const locked = await firstLogged(p.log, "locked");
    expect(locked).toEqual({ event: "locked", payload: { seat: "A_2", seq: expect.any(Number) } });

    const svc = await connect(1, eventId);
    svc.send({ action: "reserve", seat: "A_3", authorizationString: SECRET() });
    const reserved = await firstLogged(p.log, "reserved");
    expect(reserved).toEqual({ event: "reserved", payload: { seat: "A_3", seq: expect.any(Number) } });
    expect((reserved.payload.seq as number) > (locked.payload.seq as number)).toBe(true);
    // The Phoenix author heard its own lock as its own, never the legacy client's lockedForYou.
    expect(p.log.map((m) => m.event)).toEqual(["lockedForYou", "locked", "reserved"]);
    expect(await startstate(0, eventId)).toEqual({ reserved: ["A_3"], paid: [], locked: ["A_1", "A_2"] });
  });

  it("hold expiry: the owner gets deleted with its seats, the others unlocked per seat", async () => {
    const { eventId, a, b } = await twoUsersOnTwoNodes(seatIdsGrid(1, 5), { holdTtlMs: 1000 });
    a.send({ action: "lock", seat: "A_1" });
    a.send({ action: "lock", seat: "A_2" });
    await a.waitForFrame("lockedForYou", "A_1");
    await a.waitForFrame("lockedForYou", "A_2");

    const deleted = await a.waitFor((f) => f.event === "deleted", "deleted", 15_000);
    expect(Object.keys(deleted)).toEqual(["event", "data"]);
    expect([...(deleted.data as string[])].sort()).toEqual(["A_1", "A_2"]);
    await b.waitForFrame("unlocked", "A_1", 15_000);
    await b.waitForFrame("unlocked", "A_2", 15_000);
    expect(b.has("deleted")).toBe(false);

    // Barrier, then: the owner heard the release once, as deleted, never as unlocked.
    b.send({ action: "lock", seat: "A_5" });
    await a.waitForFrame("locked", "A_5");
    expect(a.frames.filter((f) => f.event === "deleted")).toHaveLength(1);
    expect(a.has("unlocked", "A_1") || a.has("unlocked", "A_2")).toBe(false);
    expect((await startstate(1, eventId)).locked).not.toContain("A_1");
  });

  it("an unknown ?event= gets an error frame, then close 4404", async () => {
    for (const event of [randomUUID(), "not-an-event"]) {
      const c = open(0, { event });
      const closed = await c.closed();
      expect(closed.code).toBe(4404);
      expect(c.frames).toHaveLength(1);
      expect(c.frames[0]).toMatchObject({ event: "error", data: { code: "unknown_event", field: "event" } });
    }
  });

  it("an event id in another letter case is the same event or none: never a second seat map", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 3));
    const [alice, bob] = [await createUser(env), await createUser(env)];
    const a = await connect(0, eventId, alice.token);
    a.send({ action: "lock", seat: "A_1" });
    await a.waitForFrame("lockedForYou", "A_1");

    const b = open(1, { event: eventId.toUpperCase(), token: bob.token });
    await until(() => b.frames[0] ?? b.closeInfo, 8000, () => "startstate or a close");
    if (b.frames[0]?.event === "startstate") {
      expect((b.frames[0].data as StartState).locked, "the upper-case spelling has a seat map of its own").toEqual(["A_1"]);
      b.send({ action: "lock", seat: "A_1" });
      await b.waitForFrame("alreadyLocked", "A_1");
    } else {
      expect(b.frames[0]).toMatchObject({ event: "error", data: { code: "unknown_event" } });
      expect((await b.closed()).code).toBe(4404);
    }
  });

  it("without ?event= (and no DEFAULT_EVENT_ID) the upgrade is refused with HTTP 400", async () => {
    expect(env.config.DEFAULT_EVENT_ID).toBeUndefined();
    const c = open(1, {});
    await expect.poll(() => c.refused, { timeout: 8000, message: "the refusal" }).toBeTruthy();
    expect(c.refused!.status).toBe(400);
    expect(JSON.parse(c.refused!.body)).toMatchObject({ error: "bad_request" });
    const r = await rawUpgrade(cluster.nodes[0]!.port, "/");
    expect(r.status).toBe(400);
    expect(r.headers["content-type"]).toBe("application/json");
  });

  it("malformed input gets an error frame naming the problem; the socket stays open and still works", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 3));
    const alice = await createUser(env);
    const c = await connect(0, eventId, alice.token);
    const errors = () => c.frames.filter((f) => f.event === "error");

    c.send("this is not json");
    await expect.poll(() => errors().length, { timeout: 8000, message: "error for non-JSON" }).toBe(1);
    expect(errors()[0]).toMatchObject({ event: "error", data: { code: "malformed_frame", field: "frame" } });

    c.send('["lock","A_1"]');
    await expect.poll(() => errors().length, { timeout: 8000, message: "error for an array" }).toBe(2);
    expect(errors()[1]).toMatchObject({ data: { code: "malformed_frame" } });

    c.send({ action: "dance", seat: "A_1" });
    await expect.poll(() => errors().length, { timeout: 8000, message: "error for an unknown action" }).toBe(3);
    expect(errors()[2]).toMatchObject({ data: { code: "unknown_action", field: "action" } });

    c.send({ seat: "A_1" });
    await expect.poll(() => errors().length, { timeout: 8000, message: "error for a missing action" }).toBe(4);
    expect(errors()[3]).toMatchObject({ data: { code: "unknown_action", field: "action" } });

    c.send({ action: "lock", seat: "A 1; DROP TABLE seats" });
    await expect.poll(() => errors().length, { timeout: 8000, message: "error for a bad seat" }).toBe(5);
    expect(errors()[4]).toMatchObject({ data: { code: "invalid_seat", field: "seat" } });

    c.send({ action: "lock" });
    await expect.poll(() => errors().length, { timeout: 8000, message: "error for a missing seat" }).toBe(6);
    expect(errors()[5]).toMatchObject({ data: { code: "invalid_seat", field: "seat" } });

    c.send({ action: "reserve", seat: "A_1", authorizationString: 42 });
    await expect.poll(() => errors().length, { timeout: 8000, message: "error for a non-string authorizationString" }).toBe(7);
    expect(errors()[6]).toMatchObject({ data: { code: "malformed_frame", field: "authorizationString" } });

    c.send({ action: "lock", seat: "Z_99" });
    await expect.poll(() => errors().length, { timeout: 8000, message: "error for a seat not in the map" }).toBe(8);
    expect(errors()[7]).toMatchObject({ data: { code: "unknown_seat", seat: "Z_99" } });

    for (const e of errors()) expect(typeof (e.data as { message?: unknown }).message).toBe("string");
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect(c.closeInfo).toBeUndefined();
    c.send({ action: "lock", seat: "A_1" });
    await c.waitForFrame("lockedForYou", "A_1");
    expect(await startstate(1, eventId)).toEqual({ reserved: [], paid: [], locked: ["A_1"] });
  });
});

