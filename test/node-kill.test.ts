import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { holdAbandonScanJob } from "@seatdrop/jobs";
import type { HoldView } from "@seatdrop/seats";
import { PhxClient, createEvent, createUser, eventually, push, seatIdsGrid } from "./support/cluster.ts";
import { startChildNode, type ChildNode } from "./support/child-node.ts";
import { haproxyBinary, startHaproxy, type Haproxy } from "./support/haproxy.ts";
import { followSeatMap, type MapFollower } from "./support/map-follower.ts";
import { useCluster } from "./support/use-cluster.ts";

/**
 * The fault "kill -9 of a ws-node during a drop" (docs/reliability.md, round one), against real
 * processes: three ws-nodes, each its own process (test/support/child-node.ts), behind
 * deploy/haproxy.cfg (Debian's haproxy), the worker running, stock `phoenix` clients locking. One
 * node gets SIGKILL while its clients' pushes are on the wire: no close frame, no "gone" write,
 * nothing. Every client it served must reconnect through HAProxy to a survivor and resume with
 * `last_seq`; each keeps its hold (it came back within the grace, so the worker's abandon scan must
 * count the new node's vouching); a push that crossed the kill gets no reply, and either the dead
 * node applied it (the rejoin's hold says so) or the retry is granted; no seat has two holders;
 * every map ends equal to Redis. Users of the dead node who do not come back lose their holds to
 * the abandon scan, a grace after the dead node stopped vouching.
 */
const bin = haproxyBinary();
if (!bin) console.warn("node-kill.test.ts SKIPPED: no haproxy binary (apt-get install haproxy; .ci/run installs it)");

/** Short liveness windows and grace, so the abandon scan decides within seconds (as in apps/worker/test/hold-expiry.test.ts). */
const LIVE_WINDOW_MS = 1500;
const GRACE_MS = 3000;
/** A push the dead node never answered is given up on after this (a real client's timeout). */
const PUSH_TIMEOUT_MS = 4000;

interface Watched extends MapFollower {
  /** Seats whose lock this client knows it got (an ok reply, or its rejoin's hold). */
  mine: string[];
  results: { seat: string; status: string; reason?: unknown }[];
  /** Lock pushes that got no reply (they crossed the kill). */
  unanswered: string[];
  /** ...of which the dead node had applied before it died: the rejoin's hold listed the seat. */
  grantedUnreplied: string[];
  /** ...and those sent again on the new node. */
  retried: string[];
}

describe.skipIf(!bin)("kill -9 of a ws-node behind HAProxy during a drop", () => {
  // No in-process nodes: all three are child processes; the worker runs in this process.
  const world = useCluster({ HOLD_RELOCK_COOLDOWN_MS: "0" }, { nodes: 0 });
  let hp: Haproxy;
  let nodes: ChildNode[] = [];
  const watched: Watched[] = [];
  const others: PhxClient[] = [];

  beforeAll(async () => {
    nodes = await Promise.all([0, 1, 2].map((i) => startChildNode(world.env, { nodeId: `kill-node-${i}`, overrides: { WS_LIVE_WINDOW_MS: String(LIVE_WINDOW_MS) } })));
    hp = await startHaproxy(bin!, nodes.map((n) => n.port));
    await vi.waitFor(
      async () => {
        if (!(await hp.servers()).every((s) => s.status === "UP")) throw new Error(`ws-nodes not UP behind haproxy:\n${hp.output.join("\n")}`);
      },
      { timeout: 10_000, interval: 100 },
    );
  });
  afterAll(async () => {
    await Promise.all([...watched.map((w) => w.client), ...others].map((c) => c.disconnect()));
    await hp?.stop();
    for (const n of nodes) await n.kill();
  });

  it("the dead node's clients resume on the survivors with their holds; holds of those who stay away are released", { timeout: 60_000 }, async () => {
    const CLIENTS = 18;
    const ABSENT = 2;
    const seatIds = seatIdsGrid(5, 20);
    const eventId = await createEvent(world.env, seatIds, { holdGraceMs: GRACE_MS, holdTtlMs: 600_000 });
    const seats = world.cluster.seats;
    const victim = nodes[0]!; // `ws-1` behind haproxy

    for (let i = 0; i < CLIENTS; i++) {
      const u = await createUser(world.env);
      const client = new PhxClient(hp.port, u.token);
      const w: Watched = Object.assign(await followSeatMap(client, u.id, eventId), { mine: [], results: [], unanswered: [], grantedUnreplied: [], retried: [] });
      watched.push(w);
    }
    // Users of the node to be killed who will not come back: straight to its port, never reconnecting.
    const absent: { userId: string; seats: string[] }[] = [];
    for (let i = 0; i < ABSENT; i++) {
      const u = await createUser(world.env);
      const c = new PhxClient(victim.port, u.token, { reconnectAfterMs: 3_600_000 });
      others.push(c);
      const j = await c.join(`seats:${eventId}`);
      const mine = seatIds.slice(seatIds.length - 2 * (i + 1), seatIds.length - 2 * i);
      for (const seat of mine) expect((await push(j.channel, "lock", { seat })).status).toBe("ok");
      absent.push({ userId: u.id, seats: mine });
    }
    const servedByVictim = (await hp.servers()).find((s) => s.name === "ws-1")!.current;
    expect(servedByVictim, "clients haproxy sent to the node to be killed").toBeGreaterThan(0);

    const lock = async (w: Watched, seat: string) => {
      let r = await push(w.channel, "lock", { seat }, PUSH_TIMEOUT_MS);
      if (r.status === "timeout") {
        w.unanswered.push(seat);
        if (w.closeCodes.length > 0) {
          // Its node died with the push. The rejoin on a survivor tells whether the dead node applied
          // it first (the reply's hold lists the seat): then it is granted, and a retry would only
          // hear `already_locked`.
          await eventually(() => w.joinModes.length >= 2, 15_000, `client ${w.userId} to rejoin after the kill`);
          if (w.joinHolds.at(-1)!.includes(seat)) {
            w.grantedUnreplied.push(seat);
            w.results.push({ seat, status: "ok" });
            w.mine.push(seat);
            return;
          }
        }
        w.retried.push(seat);
        r = await push(w.channel, "lock", { seat }, PUSH_TIMEOUT_MS); // what a client does on a timeout
      }
      w.results.push({ seat, status: r.status, reason: r.response.reason });
      if (r.status === "ok") w.mine.push(seat);
    };
    const lockRound = (round: number) => Promise.all(watched.map((w, i) => lock(w, seatIds[round * CLIENTS + i]!)));
    await lockRound(0);
    await lockRound(1);

    // Every hold just before the kill, with its deadline.
    const holdOf = async (userId: string) => (await seats.snapshot({ eventId, userId })).hold;
    const before = new Map<string, HoldView>();
    for (const w of watched) before.set(w.userId, (await holdOf(w.userId))!);

    // Round 2's pushes are handed to the sockets, then the node is killed: those on their way to it
    // cross the kill.
    const round2 = lockRound(2);
    const killedAt = Date.now();
    await victim.kill();
    // Until when the dead node vouched for its users (none will ever be later): the abandon scan may
    // release a hold a grace after that, unless another node vouches for its user.
    const live = world.env.keys.event(eventId).live;
    const vouches = await Promise.all([...watched.map((w) => w.userId), ...absent.map((a) => a.userId)].map((u) => world.env.redis.hget(live, u)));
    const vouched = vouches.map((v) => (v === null ? undefined : (JSON.parse(v) as Record<string, number>)[victim.nodeId]));
    const deadVouchedUntil = Math.max(...vouched.filter((v): v is number => v !== undefined));
    expect(deadVouchedUntil).toBeGreaterThan(0);
    await round2;

    const moved = watched.filter((w) => w.closeCodes.length > 0);
    expect(moved.length, "clients of the killed node").toBe(servedByVictim);
    await eventually(() => moved.every((w) => w.joinModes.length === 2), 10_000, "every moved client to rejoin");

    // The absent users' holds go as `abandoned`, by the worker's scan.
    const absentGone = await vi.waitFor(
      async () => {
        for (const a of absent) if (await holdOf(a.userId)) throw new Error(`the hold of absent user ${a.userId} is still there`);
        return Date.now();
      },
      { timeout: 20_000, interval: 50 },
    );
    // Past the point where the dead node's vouching alone would have let the scan release the moved
    // clients' holds too: the grace after its last window, plus a full scan interval.
    const [sec, usec] = await world.env.redis.time();
    const redisNow = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    const mustPass = deadVouchedUntil + GRACE_MS + holdAbandonScanJob.everyMs + 500;
    if (mustPass > redisNow) await new Promise((r) => setTimeout(r, mustPass - redisNow));

    // Every hold is still its owner's, with its deadline: the moved clients' too, since the node
    // they moved to vouches for them (a hold released and taken again would have a new deadline).
    for (const w of watched) {
      const now = await holdOf(w.userId);
      const was = before.get(w.userId)!;
      const tag = `hold of ${moved.includes(w) ? "moved" : "unmoved"} client ${w.userId}`;
      expect(now, `${tag}: released although its user came back within the grace`).not.toBeNull();
      expect(now!.expiresAt, `${tag}: deadline`).toBe(was.expiresAt);
      for (const s of was.seats) expect(now!.seats, `${tag}: seat kept`).toContain(s);
    }

    await lockRound(3); // after the kill, everyone (moved or not) still locks

    for (const w of watched) {
      const tag = `client ${w.userId}`;
      const wasMoved = moved.includes(w);
      // Closed once (the kill: no close frame) and resumed on a survivor; the others never noticed.
      expect(w.closeCodes.length, tag).toBe(wasMoved ? 1 : 0);
      expect(w.joinModes.length, tag).toBe(wasMoved ? 2 : 1);
      expect(w.joinModes[0], tag).toBe("snapshot");
      if (wasMoved) expect(["events", "snapshot"], tag).toContain(w.joinModes[1]);
      // Every lock granted: by its reply, by the rejoin's hold, or on the retry.
      expect(w.results.filter((r) => r.status !== "ok"), tag).toEqual([]);
      expect(w.mine.length, tag).toBe(4);
      // Pushes crossing the kill: only on the dead node's clients, at most one each (one lock at a time).
      expect(w.unanswered.length, tag).toBeLessThanOrEqual(wasMoved ? 1 : 0);
    }

    // Redis has exactly the locks the clients were told they got: one holder per seat, the absent
    // users' seats free again, released as abandoned.
    const snap = await seats.snapshot({ eventId });
    const truth = new Map([...snap.taken].map(([seat, t]) => [seat, t.userId]));
    const told = new Map<string, string>();
    let soldTwice = 0;
    for (const w of watched)
      for (const s of w.mine) {
        if (told.has(s)) soldTwice++;
        told.set(s, w.userId);
      }
    expect(soldTwice).toBe(0);
    expect(truth).toEqual(told);
    for (const w of watched) expect((await holdOf(w.userId))?.seats.slice().sort(), `hold of ${w.userId}`).toEqual(w.mine.slice().sort());
    const log = (await seats.readLog(eventId, 1)) ?? [];
    const abandoned = log.filter((e) => e.t === "unlocked" && e.why === "abandoned");
    expect(abandoned.map((e) => e.seat).sort()).toEqual(absent.flatMap((a) => a.seats).sort());
    // Every client's map converges on it.
    const all = [...told.keys()].sort();
    await eventually(() => watched.every((w) => [...w.view].sort().join() === all.join()), 8000, "every map to equal Redis");

    // The balancer took the dead node out.
    expect((await hp.servers()).find((s) => s.name === "ws-1")?.status).toMatch(/^DOWN/);

    const sum = (f: (w: Watched) => number) => watched.reduce((n, w) => n + f(w), 0);
    const events = moved.filter((w) => w.joinModes[1] === "events").length;
    const lost = [...told].filter(([seat, user]) => truth.get(seat) !== user).length;
    const keptSeats = moved.reduce((n, w) => n + before.get(w.userId)!.seats.length, 0);
    console.log(
      `node-kill: ${CLIENTS} stock clients on 3 child ws-nodes behind haproxy (+${ABSENT} absent users on the killed one), ${sum((w) => w.mine.length)} locks; ` +
        `${moved.length} moved (${moved.filter((w) => w.errors === 0 && w.opens === 2).length} at the first reconnect, all rejoined within ${Math.max(...moved.map((w) => w.rejoinedAt! - killedAt))} ms of the kill), ` +
        `resumed ${events} in events mode, ${moved.length - events} by snapshot; ` +
        `${sum((w) => w.unanswered.length)} pushes crossed the kill: ${sum((w) => w.retried.length)} retried, ${sum((w) => w.grantedUnreplied.length)} found granted in the rejoin's hold; ` +
        `holds kept ${moved.length} of ${moved.length} moved (${keptSeats} seats); absent users' holds released ${absent.length} (${abandoned.length} seats, abandoned, ${absentGone - killedAt} ms after the kill); ` +
        `lost ${lost}; sold twice ${soldTwice}`,
    );
  });
});

