import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PhxClient, createEvent, createUser, eventually, push, seatIdsGrid } from "./support/cluster.ts";
import { haproxyBinary, startHaproxy, type Haproxy } from "./support/haproxy.ts";
import { followSeatMap, type MapFollower } from "./support/map-follower.ts";
import { useCluster } from "./support/use-cluster.ts";

/**
 * A deploy during a drop: one of three ws-nodes behind deploy/haproxy.cfg (Debian's haproxy) drains
 * (what SIGTERM does, with the default WS_DRAIN_NOTICE_MS) while every client keeps locking. Every
 * client it closes must get through on its first reconnect, resume from `last_seq`, and lose no
 * lock, hold or reply; every client's map must end equal to Redis.
 */
const bin = haproxyBinary();
if (!bin) console.warn("drain.test.ts SKIPPED: no haproxy binary (apt-get install haproxy; .ci/run installs it)");

interface Watched extends MapFollower {
  /** Seats whose lock this client was told succeeded. */
  mine: string[];
  results: { seat: string; status: string; reason?: unknown }[];
  /** Pushes the client sent after the node had already closed its socket: never applied, retried. */
  unanswered: string[];
}

describe.skipIf(!bin)("draining a ws-node behind HAProxy during a drop", () => {
  const world = useCluster({}, { nodes: 3 });
  let hp: Haproxy;
  const watched: Watched[] = [];

  beforeAll(async () => {
    hp = await startHaproxy(bin!, world.cluster.nodes.map((n) => n.port));
    await vi.waitFor(
      async () => {
        if (!(await hp.servers()).every((s) => s.status === "UP")) throw new Error(`ws-nodes not UP behind haproxy:\n${hp.output.join("\n")}`);
      },
      { timeout: 10_000, interval: 100 },
    );
  });
  afterAll(async () => {
    await Promise.all(watched.map((w) => w.client.disconnect()));
    await hp?.stop();
  });

  it("every moved client's first reconnect succeeds and resumes with last_seq; no lock, hold or reply is lost", { timeout: 90_000 }, async () => {
    const CLIENTS = 18;
    const ROUNDS = 4; // locks per client: one before the drain, three during it
    const seatIds = seatIdsGrid(5, 20);
    const eventId = await createEvent(world.env, seatIds);

    for (let i = 0; i < CLIENTS; i++) {
      const u = await createUser(world.env);
      const client = new PhxClient(hp.port, u.token);
      const w: Watched = Object.assign(await followSeatMap(client, u.id, eventId), { mine: [], results: [], unanswered: [] });
      watched.push(w);
    }

    const lockRound = (round: number) =>
      Promise.all(
        watched.map(async (w, i) => {
          const seat = seatIds[round * CLIENTS + i]!;
          let r = await push(w.channel, "lock", { seat });
          if (r.status === "timeout") {
            // A push the client sent while the node's close frame was on its way is never read by
            // the node (nothing can prevent that race). It must then not have been applied either:
            // an applied push always got its reply before the node closed the socket.
            const s = await world.cluster.seats.snapshot({ eventId });
            expect(s.taken.get(seat), `unanswered lock of ${seat} applied`).toBeUndefined();
            w.unanswered.push(seat);
            r = await push(w.channel, "lock", { seat }); // what a client does on a timeout
          }
          w.results.push({ seat, status: r.status, reason: r.response.reason });
          if (r.status === "ok") w.mine.push(seat);
        }),
      );
    await lockRound(0);

    // The drain starts; the drop goes on through the notice period and the closes.
    const node = world.cluster.nodes[0]!;
    const drained = node.drain();
    const started = Date.now();
    for (let round = 1; round < ROUNDS; round++) {
      await lockRound(round);
      // Round 2 in the notice period, round 3 just before the sockets close (its pushes are then
      // in flight on the node while it closes).
      const next = round === 1 ? world.env.config.WS_DRAIN_NOTICE_MS / 2 : world.env.config.WS_DRAIN_NOTICE_MS - 3;
      if (round < ROUNDS - 1) await new Promise((r) => setTimeout(r, Math.max(0, next - (Date.now() - started))));
    }
    await drained;
    await lockRound(ROUNDS); // after the drain, everyone (moved or not) still locks

    const moved = watched.filter((w) => w.closeCodes.length > 0);
    expect(moved.length, "clients the drained node closed").toBeGreaterThan(0);
    expect(moved.length).toBeLessThan(CLIENTS);
    await eventually(() => moved.every((w) => w.joinModes.length === 2), 10_000, "every moved client to rejoin");
    for (const w of watched) {
      const tag = `client ${w.userId}`;
      // Closed once, with 1001, and back on the first attempt: no failed connection in between.
      expect(w.closeCodes, tag).toEqual(moved.includes(w) ? [1001] : []);
      expect(w.errors, tag).toBe(0);
      expect(w.opens, tag).toBe(1 + w.closeCodes.length);
      // A moved client resumed from its last seq instead of reloading the map.
      expect(w.joinModes, tag).toEqual(moved.includes(w) ? ["snapshot", "events"] : ["snapshot"]);
      // Every push answered ok (a retried one after its timeout): none lost in the close, none refused.
      expect(w.results.filter((r) => r.status !== "ok"), tag).toEqual([]);
      expect(w.mine.length, tag).toBe(ROUNDS + 1);
    }

    // Redis has exactly the locks the clients were told they got, each in its owner's hold.
    const snap = await world.cluster.seats.snapshot({ eventId });
    const truth = new Map([...snap.taken].map(([seat, t]) => [seat, t.userId]));
    const told = new Map(watched.flatMap((w) => w.mine.map((s) => [s, w.userId] as const)));
    expect(truth).toEqual(told);
    for (const w of watched) {
      const hold = await world.cluster.seats.snapshot({ eventId, userId: w.userId });
      expect(hold.hold?.seats.slice().sort(), `hold of ${w.userId}`).toEqual(w.mine.slice().sort());
    }
    // Every client's map converges on it.
    const all = [...told.keys()].sort();
    await eventually(() => watched.every((w) => [...w.view].sort().join() === all.join()), 8000, "every map to equal Redis");

    // Pushes that crossed the close frame on the wire: at most one per moved client.
    for (const w of watched) expect(w.unanswered.length).toBeLessThanOrEqual(moved.includes(w) ? 1 : 0);
    console.log(`drain: ${moved.length} of ${CLIENTS} clients moved; ${watched.reduce((n, w) => n + w.unanswered.length, 0)} push(es) crossed the close and were retried`);

    // The balancer took the drained node out.
    const states = await hp.servers();
    expect(states.find((s) => s.name === "ws-1")?.status).toMatch(/^DOWN/);
  });
});
