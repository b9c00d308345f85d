import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { PhxClient, createEvent, createUser, eventually, push, seatIdsGrid, type Received } from "./support/cluster.ts";
import { STATS_PASSWORD, STATS_USER, haproxyBinary, startHaproxy, type Haproxy } from "./support/haproxy.ts";
import { useCluster } from "./support/use-cluster.ts";

/**
 * deploy/haproxy.cfg, run by Debian's haproxy in front of three real ws-nodes: its health check
 * must see them UP (uWS answers only HTTP/1.1 with a Host), its limits must let it start, and stock
 * Phoenix clients and seed-dialect clients must lock through it and see each other's locks.
 */
const bin = haproxyBinary();
if (!bin) console.warn("haproxy.test.ts SKIPPED: no haproxy binary (apt-get install haproxy; .ci/run installs it)");

describe.skipIf(!bin)("deploy/haproxy.cfg in front of three ws-nodes", () => {
  const world = useCluster({}, { nodes: 3 });
  let hp: Haproxy;
  const clients: PhxClient[] = [];
  const seeds: WebSocket[] = [];

  beforeAll(async () => {
    hp = await startHaproxy(bin!, world.cluster.nodes.map((n) => n.port));
  });
  afterAll(async () => {
    for (const s of seeds) s.close();
    await Promise.all(clients.map((c) => c.disconnect()));
    await hp?.stop();
  });

  it("marks every ws-node UP through its /readyz check", async () => {
    let states = await hp.servers();
    const until = Date.now() + 10_000;
    while (!(states.length === 3 && states.every((s) => s.status === "UP")) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      states = await hp.servers();
    }
    expect(states.map((s) => [s.name, s.status]), hp.output.join("\n")).toEqual([
      ["ws-1", "UP"],
      ["ws-2", "UP"],
      ["ws-3", "UP"],
    ]);
  });

  it("keeps its statistics behind the password", async () => {
    const open = await fetch(`http://127.0.0.1:${hp.statsPort}/stats`);
    expect(open.status).toBe(401);
    const wrong = await fetch(`http://127.0.0.1:${hp.statsPort}/stats`, { headers: { authorization: `Basic ${Buffer.from(`${STATS_USER}:nope`).toString("base64")}` } });
    expect(wrong.status).toBe(401);
    const right = await fetch(`http://127.0.0.1:${hp.statsPort}/stats`, { headers: { authorization: `Basic ${Buffer.from(`${STATS_USER}:${STATS_PASSWORD}`).toString("base64")}` } });
    expect(right.status).toBe(200);
  });

  it("stock Phoenix clients and seed clients, spread over the three nodes, see each other's locks", async () => {
    const seatIds = seatIdsGrid(1, 12);
    const eventId = await createEvent(world.env, seatIds);
    const before = await hp.servers();

    // Six Phoenix clients: leastconn spreads them over the three nodes.
    const phx: { user: string; log: Received[]; channel: Awaited<ReturnType<PhxClient["join"]>>["channel"] }[] = [];
    for (let i = 0; i < 6; i++) {
      const u = await createUser(world.env);
      const c = new PhxClient(hp.port, u.token);
      clients.push(c);
      const j = await c.join(`seats:${eventId}`);
      phx.push({ user: u.id, log: j.log, channel: j.channel });
    }
    // Three seed-dialect clients on `/`, through the same frontend.
    const seedFrames: string[][] = [];
    for (let i = 0; i < 3; i++) {
      const u = await createUser(world.env);
      const ws = new WebSocket(`ws://127.0.0.1:${hp.port}/?event=${eventId}&token=${u.token}`);
      const frames: string[] = [];
      ws.on("message", (d: WebSocket.RawData) => frames.push(d.toString()));
      seeds.push(ws);
      seedFrames.push(frames);
      await eventually(() => frames.some((f) => f.includes('"startstate"')), 8000, "seed startstate");
    }
    const after = await hp.servers();
    for (const s of after) expect(s.total - before.find((b) => b.name === s.name)!.total, `connections routed to ${s.name}`).toBeGreaterThan(0);

    // Each Phoenix client locks its own seat, each seed client another.
    for (const [i, p] of phx.entries()) expect(await push(p.channel, "lock", { seat: seatIds[i]! })).toMatchObject({ status: "ok" });
    for (const [i, ws] of seeds.entries()) ws.send(JSON.stringify({ action: "lock", seat: seatIds[6 + i] }));
    for (const [i, frames] of seedFrames.entries()) await eventually(() => frames.includes(JSON.stringify({ event: "lockedForYou", data: seatIds[6 + i] })), 8000, "seed lockedForYou");

    // Everyone hears every lock but their own as `locked`.
    const locked = seatIds.slice(0, 9);
    for (const [i, p] of phx.entries()) {
      const want = locked.filter((s) => s !== seatIds[i]).sort();
      await eventually(() => p.log.filter((m) => m.event === "locked").length >= want.length, 8000, `phoenix client ${i} to see 8 locks`);
      expect(p.log.filter((m) => m.event === "locked").map((m) => m.payload.seat).sort()).toEqual(want);
    }
    for (const [i, frames] of seedFrames.entries()) {
      const want = locked.filter((s) => s !== seatIds[6 + i]).sort();
      const got = () => frames.map((f) => JSON.parse(f) as { event: string; data: unknown }).filter((f) => f.event === "locked").map((f) => f.data as string);
      await eventually(() => got().length >= want.length, 8000, `seed client ${i} to see 8 locks`);
      expect(got().sort()).toEqual(want);
    }
  });
});
