import { describe, expect, it } from "vitest";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { createEvent, createUser, firstLogged, push, seatIdsGrid } from "../../../test/support/cluster.ts";

const world = useCluster();

describe("hold lifecycle", () => {
  it("a hold with a 1-second TTL is released by the worker: the owner gets deleted, others unlocked", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 4), { holdTtlMs: 1000 });
    const [owner, other] = [await createUser(world.env), await createUser(world.env)];
    const o = await world.client(0, owner.token).join(`seats:${eventId}`);
    const w = await world.client(1, other.token).join(`seats:${eventId}`);
    const r1 = await push(o.channel, "lock", { seat: "A_1" });
    await push(o.channel, "lock", { seat: "A_2" });
    const deadline = r1.response.expires_at as number;
    const deleted = await firstLogged(o.log, "deleted");
    expect(deleted.payload).toMatchObject({ seats: ["A_1", "A_2"], reason: "expired" });
    await expect.poll(() => w.log.filter((m) => m.event === "unlocked").length, { timeout: 5000, message: "two unlocked" }).toBe(2);
    expect(w.log.filter((m) => m.event === "unlocked").map((m) => m.payload)).toEqual([
      { seat: "A_1", seq: 3, reason: "expired" },
      { seat: "A_2", seq: 4, reason: "expired" },
    ]);
    expect(o.log.some((m) => m.event === "unlocked")).toBe(false);
    console.log(`hold expiry: deleted seen ${Date.now() - deadline} ms after the deadline`);
    const snap = await world.cluster.seats.snapshot({ eventId, userId: owner.id });
    expect(snap.taken.size).toBe(0);
    expect(snap.hold).toBeNull();
  });

  it("an extended hold outlives its first deadline", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 2), { holdTtlMs: 800 });
    const u = await createUser(world.env);
    const o = await world.client(0, u.token).join(`seats:${eventId}`);
    await push(o.channel, "lock", { seat: "A_1" });
    await new Promise((r) => setTimeout(r, 500));
    expect((await push(o.channel, "extend", {})).status).toBe("ok");
    await new Promise((r) => setTimeout(r, 500)); // past the first deadline, before the second
    const snap = await world.cluster.seats.snapshot({ eventId, userId: u.id });
    expect(snap.hold?.seats).toEqual(["A_1"]);
    expect(o.log.some((m) => m.event === "deleted")).toBe(false);
  });

  it("a hold whose user has no live connection for the grace period is released as abandoned", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 2), { holdGraceMs: 500 });
    const [leaver, stayer, watcher] = [await createUser(world.env), await createUser(world.env), await createUser(world.env)];
    const l = world.client(0, leaver.token);
    const lj = await l.join(`seats:${eventId}`);
    await push(lj.channel, "lock", { seat: "A_1" });
    const s = await world.client(1, stayer.token).join(`seats:${eventId}`);
    await push(s.channel, "lock", { seat: "A_2" });
    const w = await world.client(1, watcher.token).join(`seats:${eventId}`);
    await l.disconnect();
    const un = await firstLogged(w.log, "unlocked");
    expect(un.payload).toMatchObject({ seat: "A_1", reason: "abandoned" });
    await new Promise((r) => setTimeout(r, 800));
    const snap = await world.cluster.seats.snapshot({ eventId });
    expect([...snap.taken.keys()]).toEqual(["A_2"]); // the connected user keeps theirs
  });

  it("a client that missed events while disconnected catches up from last_seq", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 6));
    const [u1, u2] = [await createUser(world.env), await createUser(world.env)];
    const watcherClient = world.client(1, u2.token);
    let lastSeq = 0;
    const replies: Record<string, unknown>[] = [];
    const channel = watcherClient.socket.channel(`seats:${eventId}`, () => ({ last_seq: lastSeq }));
    channel.onMessage = (event: string, payload: any) => {
      if (typeof payload?.seq === "number") lastSeq = Math.max(lastSeq, payload.seq);
      if (event === "phx_reply" && payload?.response?.mode) replies.push(payload.response);
      return payload;
    };
    await new Promise((resolve) => channel.join().receive("ok", resolve));
    lastSeq = replies[0]!.seq as number;
    const author = await world.client(0, u1.token).join(`seats:${eventId}`);
    await push(author.channel, "lock", { seat: "A_1" });
    await expect.poll(() => lastSeq === 1, { timeout: 5000, message: "first event" }).toBeTruthy();

    watcherClient.socket.disconnect();
    await push(author.channel, "lock", { seat: "A_2" });
    await push(author.channel, "lock", { seat: "A_3" });
    await push(author.channel, "unlock", { seat: "A_1" });
    watcherClient.socket.connect();
    await expect.poll(() => replies.length, { timeout: 8000, message: "rejoin reply" }).toBe(2);
    expect(replies[1]).toMatchObject({
      mode: "events",
      seq: 4,
      events: [
        { event: "locked", seat: "A_2", seq: 2 },
        { event: "locked", seat: "A_3", seq: 3 },
        { event: "unlocked", seat: "A_1", seq: 4 },
      ],
    });
  });
});
