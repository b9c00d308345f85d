import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { PhxClient, createEvent, createUser, eventually, push, seatIdsGrid, type Received } from "./support/cluster.ts";
import { STATS_PASSWORD, STATS_USER, haproxyBinary, startHaproxy, type Haproxy } from "./support/haproxy.ts";
import { rawUpgrade } from "./support/raw-upgrade.ts";
import { useCluster } from "./support/use-cluster.ts";
import { queries } from "./support/dashboard-queries.ts";

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
    await vi.waitFor(
      async () =>
        expect((await hp.servers()).map((s) => [s.name, s.status]), hp.output.join("\n")).toEqual([
          ["ws-1", "UP"],
          ["ws-2", "UP"],
          ["ws-3", "UP"],
        ]),
      { timeout: 10_000, interval: 200 },
    );
  });

  it("keeps its statistics behind the password", async () => {
    const open = await fetch(`http://127.0.0.1:${hp.statsPort}/stats`);
    expect(open.status).toBe(401);
    const wrong = await fetch(`http://127.0.0.1:${hp.statsPort}/stats`, { headers: { authorization: `Basic ${Buffer.from(`${STATS_USER}:nope`).toString("base64")}` } });
    expect(wrong.status).toBe(401);
    const right = await fetch(`http://127.0.0.1:${hp.statsPort}/stats`, { headers: { authorization: `Basic ${Buffer.from(`${STATS_USER}:${STATS_PASSWORD}`).toString("base64")}` } });
    expect(right.status).toBe(200);
  });

  it("exports Prometheus metrics on its `prometheus` frontend: every haproxy_ series the dashboard and the alerts read", async () => {
    await vi.waitFor(async () => expect((await hp.servers()).every((x) => x.status === "UP")).toBe(true), { timeout: 10_000, interval: 200 });
    const text = await (await fetch(`http://127.0.0.1:${hp.metricsPort}/metrics`)).text();
    const samples = text.split("\n").filter((l) => l && !l.startsWith("#"));
    expect(samples).toContain('haproxy_backend_active_servers{proxy="ws_nodes"} 3');
    const used = queries().flatMap(({ where, expr }) => [...expr.matchAll(/\b(haproxy_[a-z_]+)(\{[^}]*\})?/g)].map((m) => ({ where, name: m[1]!, selector: m[2] ?? "" })));
    expect(used.length).toBeGreaterThanOrEqual(3);
    for (const u of used) {
      // The series exists with the selector's exact label values (proxy="ws_nodes", …).
      const wanted = [...u.selector.matchAll(/(\w+)="([^"]*)"/g)].map((m) => `${m[1]}="${m[2]}"`);
      expect(samples.some((l) => l.startsWith(`${u.name}{`) && wanted.every((w) => l.includes(w))), `${u.where}: ${u.name}${u.selector}`).toBe(true);
    }
  });

  it("stock Phoenix clients and legacy-dialect clients, spread over the three nodes, see each other's locks", async () => {
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

    // Each Phoenix client locks its own seat, each legacy-dialect client another.
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
      await eventually(() => got().length >= want.length, 8000, `legacy-dialect client ${i} to see 8 locks`);
      expect(got().sort()).toEqual(want);
    }
  });
});

describe.skipIf(!bin)("the balancer's real client: deploy/haproxy.cfg sets X-Forwarded-For, the nodes believe only it", () => {
  // Limits on, nothing exempt; the nodes trust HAProxy's source alone (it reaches them from 127.0.0.1).
  const LIMIT = 3;
  const world = useCluster({ LIMIT_CONNECTS_PER_IP: String(LIMIT), LIMIT_EXEMPT_IPS: "", TRUSTED_PROXIES: "127.0.0.1/32" }, { nodes: 3 });
  let hp: Haproxy;
  beforeAll(async () => {
    hp = await startHaproxy(bin!, world.cluster.nodes.map((n) => n.port));
    await eventually(async () => (await hp.servers()).every((s) => s.status === "UP"), 10_000, "ws-nodes UP behind haproxy");
  });
  afterAll(async () => {
    await hp?.stop();
  });
  // The balancer spreads a client's connects over the nodes, which learn each other's counts within a
  // sync lag (LIMIT_SYNC_MS, 100 ms: the documented overshoot); connects here are spaced past it.
  const connect = async (from: string, headers: Record<string, string> = {}) => {
    const status = (await rawUpgrade(hp.port, "/socket/websocket?vsn=2.0.0", headers, from)).status;
    await new Promise((r) => setTimeout(r, 300));
    return status;
  };

  it("counts each client by its own address through the balancer, whatever X-Forwarded-For it sends; a direct peer's is ignored", async () => {
    // Client A uses up its limit; client B, another source, still connects.
    const a = [];
    for (let i = 0; i < LIMIT + 1; i++) a.push(await connect("127.0.0.2"));
    expect(a).toEqual([101, 101, 101, 429]);
    expect(await connect("127.0.0.3")).toBe(101);
    // Client C names a fresh address per connect: HAProxy replaces the header, so it is counted as itself.
    const c = [];
    for (let i = 0; i < LIMIT + 1; i++) c.push(await connect("127.0.0.4", { "x-forwarded-for": `203.0.113.${i + 1}` }));
    expect(c).toEqual([101, 101, 101, 429]);
    // Straight to a node from an address that is not a trusted proxy: its own X-Forwarded-For is ignored.
    const direct = [];
    for (let i = 0; i < LIMIT + 1; i++)
      direct.push((await rawUpgrade(world.cluster.nodes[0]!.port, "/socket/websocket?vsn=2.0.0", { "x-forwarded-for": `198.51.100.${i + 1}` }, "127.0.0.5")).status);
    expect(direct).toEqual([101, 101, 101, 429]);
    console.log(`balancer's client: A ${a.join(",")}; B 101; C with its own X-Forwarded-For ${c.join(",")}; direct with X-Forwarded-For ${direct.join(",")}`);
  });
});
