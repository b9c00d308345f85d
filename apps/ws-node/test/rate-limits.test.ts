import { randomUUID } from "node:crypto";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { tickets } from "@seatdrop/db";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { createEvent, createUser, seatIdsGrid } from "../../../test/support/cluster.ts";
import { RawPhx, phxUrl, until, type Frame } from "../../../test/support/raw-phx.ts";
import { rawUpgrade } from "../../../test/support/raw-upgrade.ts";

/**
 * docs/reliability.md, round one, finding 2 (and the connect and claim limits of findings 1 and 5):
 * every frame a socket sends counts against its bucket, joins waiting for their reply are capped
 * per socket, and connects and ticket claims are counted per address and per user in Redis, so both
 * nodes agree. Refusals are `rate_limited` with `retry_after_ms` (HTTP 429 with Retry-After on the
 * upgrade).
 */
const w = useCluster({
  WS_PUSH_RATE: "5",
  WS_PUSH_BURST: "10",
  WS_JOINS_IN_FLIGHT: "2",
  LIMIT_CONNECTS_PER_IP: "4",
  LIMIT_CONNECTS_PER_USER: "6",
  LIMIT_TICKET_CLAIMS_PER_USER: "3",
  // Above what any one address claims in the other tests (each socket has an address of its own).
  LIMIT_TICKET_CLAIMS_PER_IP: "4",
  // Loopback is exempt by default; here the per-address limits are read from X-Forwarded-For.
  LIMIT_EXEMPT_IPS: "",
});
const raws: RawPhx[] = [];
afterAll(() => raws.forEach((r) => r.close()));

let ipCounter = 1;
/** A client address of its own, so each test's connects are counted apart. */
const freshIp = () => `198.51.100.${ipCounter++}`;

async function raw(node: number, o: { token?: string; ip?: string } = {}): Promise<RawPhx> {
  const c = new RawPhx(phxUrl(w.cluster.nodes[node]!.port, o.token ? { token: o.token } : {}), [], { "x-forwarded-for": o.ip ?? freshIp() });
  raws.push(c);
  await c.opened();
  return c;
}

/** Figures of the last run, one line per describe. */
const perSocket: string[] = [];
const acrossCluster: string[] = [];

/**
 * Connect limits are decided from each node's memory: a node hears of the other's connects within
 * LIMIT_SYNC_MS plus a round trip. Waited out before a refusal is expected of a node that did not
 * see every connect itself (the overshoot within that lag: ARCHITECTURE.md).
 */
const syncLag = () => new Promise((r) => setTimeout(r, 2 * w.env.config.LIMIT_SYNC_MS + 100));

const rateLimitedReplies = (c: RawPhx) => c.frames.filter((f) => f[3] === "phx_reply" && (f[4] as { response?: { reason?: string } }).response?.reason === "rate_limited");

describe("per socket: every frame kind counts", () => {
  afterAll(() => console.log(`rate limits per socket (bucket 10 at 5/s): ${perSocket.join("; ")}`));
  it("joins of unknown events, heartbeats, leaves, not_joined and malformed pushes all hit the bucket; past it the replies say rate_limited with retry_after_ms", async () => {
    const c = await raw(0);
    const refs: string[] = [];
    const ref = () => {
      const r = c.ref();
      refs.push(r);
      return r;
    };
    const send = (f: Frame | string) => c.send(f);
    for (let i = 0; i < 4; i++) {
      const r = ref();
      send([r, r, `seats:${randomUUID()}`, "phx_join", {}]);
    }
    for (let i = 0; i < 4; i++) send([null, ref(), "phoenix", "heartbeat", {}]);
    for (let i = 0; i < 4; i++) send(["9", ref(), `seats:${randomUUID()}`, "lock", { seat: "A_1" }]); // not joined
    for (let i = 0; i < 4; i++) send(["9", ref(), `seats:${randomUUID()}`, "phx_leave", {}]);
    for (let i = 0; i < 4; i++) send(`["9","${ref()}","seats:x","lock",42]`); // payload not an object
    // 20 frames sent back to back into a bucket of 10 at 5/s: some are refused, each with its wait.
    // Every one of them has a ref, so each gets a reply (the replies of one turn go out together,
    // and a turn may not hold all 20 frames): wait for all 20.
    const replied = () => refs.filter((r) => c.frames.some((f) => f[1] === r && f[3] === "phx_reply")).length;
    await until(() => replied() === refs.length, 8000, () => `a reply to each of the 20 frames; got ${JSON.stringify(c.frames)}`);
    for (const f of rateLimitedReplies(c)) expect((f[4] as { response: { retry_after_ms: number } }).response.retry_after_ms).toBeGreaterThan(0);
    expect(rateLimitedReplies(c).length).toBeGreaterThanOrEqual(20 - 10 - 2); // at most ~2 tokens refilled meanwhile
    const waits = rateLimitedReplies(c).map((f) => (f[4] as { response: { retry_after_ms: number } }).response.retry_after_ms);
    perSocket.push(`20 frames at once (joins of unknown events, heartbeats, leaves, pushes): ${waits.length} rate_limited (retry_after_ms ${Math.min(...waits)}–${Math.max(...waits)})`);
  });

  it("frames without a ref take from the bucket too; refused, they get no reply", async () => {
    const c = await raw(0);
    // 14 ref-less heartbeats into a bucket of 10, then one with a ref: the ref-less ones drained it.
    for (let i = 0; i < 14; i++) c.send([null, null, "phoenix", "heartbeat", {}]);
    const ref = c.ref();
    c.send([null, ref, "phoenix", "heartbeat", {}]);
    const withRef = await c.reply(ref);
    expect(withRef).toMatchObject({ status: "error", response: { reason: "rate_limited", retry_after_ms: expect.any(Number) } });
    // Frames are answered in order, so every answer to the ref-less ones has arrived by now: the
    // admitted ones are answered as Phoenix does (ref null), the refused ones not at all.
    const refless = c.frames.filter((f) => f[1] === null && f[3] === "phx_reply");
    expect(refless.filter((f) => (f[4] as { status?: string }).status !== "ok")).toHaveLength(0);
    expect(refless.length).toBeLessThanOrEqual(10 + 2); // at most ~2 tokens refilled meanwhile
    perSocket.push(`14 ref-less heartbeats at once: ${refless.length} answered ok, ${14 - refless.length} refused without a reply; a heartbeat with a ref next: ${String(withRef.response.reason)}`);
  });

  it("a socket that keeps sending heartbeats past the limit is closed with 4429", async () => {
    const c = await raw(1);
    for (let i = 0; i < 400 && !c.closeInfo; i++) c.send([null, c.ref(), "phoenix", "heartbeat", {}]);
    expect((await c.closed()).code).toBe(4429);
    perSocket.push(`400 heartbeats at once: closed ${c.closeInfo!.code} after ${rateLimitedReplies(c).length} rate_limited`);
  });

  it("the legacy seat dialect: malformed frames, unknown actions and frames before startstate all count; then 4429", async () => {
    const eventId = await createEvent(w.env, seatIdsGrid(1, 4));
    const user = await createUser(w.env);
    const got: { event: string; data: Record<string, unknown> }[] = [];
    let closeCode: number | undefined;
    const ws = new WebSocket(`ws://127.0.0.1:${w.cluster.nodes[0]!.port}/?event=${eventId}&token=${user.token}`, { headers: { "x-forwarded-for": freshIp() } });
    ws.on("message", (m: WebSocket.RawData) => got.push(JSON.parse(String(m)) as (typeof got)[number]));
    ws.on("close", (code: number) => (closeCode = code));
    await new Promise((r) => ws.once("open", r));
    // Sent at once, before `startstate` can have arrived: 20 frames into a bucket of 10 at 5/s.
    for (let i = 0; i < 5; i++) ws.send("not json");
    for (let i = 0; i < 5; i++) ws.send(JSON.stringify({ action: "dance", seat: "A_1" }));
    for (let i = 0; i < 5; i++) ws.send(JSON.stringify({ action: "lock", seat: "no seat" }));
    for (let i = 0; i < 5; i++) ws.send(JSON.stringify({ action: "unlock", seat: "A_2" }));
    const limited = () => got.filter((f) => f.event === "error" && f.data.code === "rate_limited");
    await until(() => got.some((f) => f.event === "startstate") && got.length >= 21, 8000, () => `20 answers and startstate; got ${JSON.stringify(got)}`);
    const limitedFirst = limited().length;
    expect(limited().length).toBeGreaterThanOrEqual(20 - 10 - 2); // at most ~2 tokens refilled meanwhile
    for (const f of limited()) expect(f.data.retry_after_ms).toBeGreaterThan(0);
    // A refused action names its seat (legacy dialect frames have no ref); a refused unparsable frame cannot.
    expect(limited().some((f) => f.data.seat === "A_2")).toBe(true);
    for (let i = 0; i < 400 && closeCode === undefined; i++) ws.send("{}");
    await until(() => closeCode, 8000, () => "the socket to close");
    expect(closeCode).toBe(4429);
    perSocket.push(`legacy seat dialect: 20 bad frames before startstate, ${limitedFirst} rate_limited; then ${limited().length - limitedFirst} more before close ${closeCode}`);
  });

  it("at most WS_JOINS_IN_FLIGHT joins wait for their reply; one more is refused at once", async () => {
    const user = await createUser(w.env);
    // Three chat joins whose ticket rows are locked by this test: each join waits in PostgreSQL.
    const events = await Promise.all([0, 1, 2].map(() => createEvent(w.env, seatIdsGrid(1, 1))));
    const numbers = events.map(() => `INFLIGHT-${randomUUID().slice(0, 8)}`);
    await w.env.db.db.insert(tickets).values(events.map((eventId, i) => ({ eventId, ticketNumber: numbers[i]! })));
    const locker = postgres(w.env.config.DATABASE_URL, { max: 1 });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const tx = locker.begin(async (sql) => {
      await sql`select id from tickets where ticket_number in ${sql(numbers)} for update`;
      locked();
      await held;
    });
    await isLocked;
    try {
      const c = await raw(0, { token: user.token });
      const refs = events.map((eventId, i) => {
        const r = c.ref();
        c.send([r, r, `event:${eventId}`, "phx_join", { ticket_number: numbers[i] }]);
        return r;
      });
      // The third is answered while the first two still wait for the locked rows.
      const third = await c.reply(refs[2]!);
      expect(third).toMatchObject({ status: "error", response: { reason: "rate_limited", retry_after_ms: expect.any(Number) } });
      for (const r of refs.slice(0, 2)) expect(c.repliesTo(r)).toHaveLength(0);
      release();
      await tx;
      for (const r of refs.slice(0, 2)) expect((await c.reply(r)).status).toBe("ok");
      const answeredOk = refs.slice(0, 2).filter((r) => (c.repliesTo(r)[0]?.[4] as { status?: string } | undefined)?.status === "ok").length;
      perSocket.push(`3 chat joins waiting on PostgreSQL, ${w.env.config.WS_JOINS_IN_FLIGHT} in flight: the third ${String(third.response.reason)} at once, ${answeredOk} answered ok once released`);
    } finally {
      release();
      await locker.end();
    }
  });
});

describe("across the cluster (Redis)", () => {
  afterAll(() => console.log(`rate limits across 2 nodes: ${acrossCluster.join("; ")}`));
  it("connects per address: past the limit both nodes answer 429 with Retry-After; another address still connects", async () => {
    const ip = freshIp();
    for (let i = 0; i < 4; i++) await raw(i % 2, { ip });
    await syncLag();
    const refused: string[] = [];
    for (const node of [0, 1]) {
      const res = await rawUpgrade(w.cluster.nodes[node]!.port, "/socket/websocket?vsn=2.0.0", { "x-forwarded-for": ip });
      expect(res.status).toBe(429);
      expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
      expect(JSON.parse(res.body)).toMatchObject({ error: "rate_limited", retry_after_ms: expect.any(Number) });
      refused.push(`${res.status} (Retry-After ${String(res.headers["retry-after"])})`);
    }
    await raw(1, { ip: freshIp() });
    acrossCluster.push(`4 connects from one address, the 5th on each node ${refused.join(", ")}, another address connected`);
  });

  it("connects per user, whatever the address", async () => {
    const user = await createUser(w.env);
    for (let i = 0; i < 6; i++) await raw(i % 2, { token: user.token });
    await syncLag();
    const res = await rawUpgrade(w.cluster.nodes[0]!.port, `/socket/websocket?vsn=2.0.0&token=${user.token}`, { "x-forwarded-for": freshIp() });
    expect(res.status).toBe(429);
    expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
    expect(JSON.parse(res.body)).toMatchObject({ error: "rate_limited", retry_after_ms: expect.any(Number) });
    acrossCluster.push(`6 connects of one user on both nodes, the 7th from a new address ${res.status}`);
  });

  it("connects on one node: its own count refuses the next at once, before any sync", async () => {
    const ip = freshIp();
    const user = await createUser(w.env);
    for (let i = 0; i < 4; i++) await raw(1, { ip });
    const byIp = await rawUpgrade(w.cluster.nodes[1]!.port, "/socket/websocket?vsn=2.0.0", { "x-forwarded-for": ip });
    for (let i = 0; i < 6; i++) await raw(0, { token: user.token });
    const byUser = await rawUpgrade(w.cluster.nodes[0]!.port, `/socket/websocket?vsn=2.0.0&token=${user.token}`, { "x-forwarded-for": freshIp() });
    for (const res of [byIp, byUser]) {
      expect(res.status).toBe(429);
      expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
      expect(JSON.parse(res.body)).toMatchObject({ error: "rate_limited", retry_after_ms: expect.any(Number) });
    }
    acrossCluster.push(`one node alone: the 5th connect of an address and the 7th of a user refused at once (${byIp.status}, ${byUser.status})`);
  });

  it("ticket claims per user: the fourth claim, on the other node, is rate_limited before any ticket is looked up", async () => {
    const user = await createUser(w.env);
    const eventId = await createEvent(w.env, seatIdsGrid(1, 1));
    const a = await raw(0, { token: user.token });
    const b = await raw(1, { token: user.token });
    for (const c of [a, b, a]) expect((await c.join(`event:${eventId}`, { ticket_number: `GUESS-${randomUUID()}` })).reply.response.reason).not.toBe("rate_limited");
    const fourth = await b.join(`event:${eventId}`, { ticket_number: `GUESS-${randomUUID()}` });
    expect(fourth.reply).toMatchObject({ status: "error", response: { reason: "rate_limited", retry_after_ms: expect.any(Number) } });
    // Joins without a ticket number are not claims and are not counted.
    expect((await b.join(`seats:${eventId}`)).reply.status).toBe("ok");
    acrossCluster.push(`3 ticket claims, the 4th on the other node ${String(fourth.reply.response.reason)}`);
  });

  it("ticket claims per address: several users from one address are stopped together, on either node; another address still claims", async () => {
    const ip = freshIp();
    const eventId = await createEvent(w.env, seatIdsGrid(1, 1));
    const users = [await createUser(w.env), await createUser(w.env), await createUser(w.env)];
    // Three users behind one address (a NAT, or one guesser with many accounts), on both nodes.
    const sockets = await Promise.all(users.map((u, i) => raw(i % 2, { token: u.token, ip })));
    const claim = async (c: RawPhx) => (await c.join(`event:${eventId}`, { ticket_number: `GUESS-${randomUUID()}` })).reply;
    // Four claims, no user past its own limit of 3 (the second user claims twice).
    const first = [];
    for (const c of [sockets[0]!, sockets[1]!, sockets[2]!, sockets[1]!]) first.push(await claim(c));
    for (const r of first) expect(r.response.reason).toBe("invalid_ticket");
    // The fifth, by the first user (one claim of their own so far), on node 0: the address is spent.
    const fifth = await claim(sockets[0]!);
    expect(fifth).toMatchObject({ status: "error", response: { reason: "rate_limited", retry_after_ms: expect.any(Number) } });
    // The third user (one claim so far) from another address is not stopped: it was the address.
    const elsewhere = await claim(await raw(1, { token: users[2]!.token, ip: freshIp() }));
    expect(elsewhere.response.reason).toBe("invalid_ticket");
    acrossCluster.push(
      `3 users from one address on 2 nodes: 4 claims ${[...new Set(first.map((r) => String(r.response.reason)))].join("/")}, the 5th ${String(fifth.response.reason)}; one of them from another address ${String(elsewhere.response.reason)}`,
    );
  });
});
