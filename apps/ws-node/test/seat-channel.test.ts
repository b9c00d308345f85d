import { unlinkMatching } from "@seatdrop/redis";
import { describe, expect, it } from "vitest";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { createEvent, createUser, push, seatIdsGrid } from "../../../test/support/cluster.ts";

const world = useCluster();

describe("seats channel across two ws-nodes (stock phoenix client)", () => {
  it("a lock on node A reaches a watcher on node B, the author gets lockedForYou, a late joiner sees it", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(2, 5));
    const alice = await createUser(world.env);
    const bob = await createUser(world.env);
    const a = await world.client(0, alice.token).join(`seats:${eventId}`);
    const b = await world.client(1, bob.token).join(`seats:${eventId}`);
    expect(a.reply).toMatchObject({ mode: "snapshot", seq: 0, hold: null, user_id: alice.id });
    expect(Object.keys(a.reply.seats as object)).toHaveLength(10);
    expect((a.reply.seats as Record<string, string>).A_1).toBe("available");

    const r = await push(a.channel, "lock", { seat: "A_1" });
    expect(r).toMatchObject({ status: "ok", response: { seat: "A_1", seq: 1, hold_size: 1 } });
    await expect.poll(() => b.log.find((m) => m.event === "locked"), { timeout: 5000, message: "locked on node B" }).toBeTruthy();
    expect(b.log).toEqual([{ event: "locked", payload: { seat: "A_1", seq: 1 } }]);
    await expect.poll(() => a.log.find((m) => m.event === "lockedForYou"), { timeout: 5000, message: "lockedForYou" }).toBeTruthy();
    expect(a.log).toEqual([{ event: "lockedForYou", payload: { seat: "A_1", seq: 1 } }]);

    const late = await world.client(1).join(`seats:${eventId}`);
    expect(late.reply).toMatchObject({ mode: "snapshot", seq: 1, hold: null, user_id: null });
    expect((late.reply.seats as Record<string, string>).A_1).toBe("locked");
    const again = await world.client(0, alice.token).join(`seats:${eventId}`);
    expect(again.reply.hold).toMatchObject({ seats: ["A_1"], extensions_left: 2 });

    const u = await push(a.channel, "unlock", { seat: "A_1" });
    expect(u).toMatchObject({ status: "ok", response: { seat: "A_1", seq: 2 } });
    await expect.poll(() => b.log.find((m) => m.event === "unlocked"), { timeout: 5000, message: "unlocked on B" }).toBeTruthy();
    await expect.poll(() => a.log.find((m) => m.event === "unlockedForYou"), { timeout: 5000, message: "unlockedForYou" }).toBeTruthy();
    expect(a.log.some((m) => m.event === "unlocked")).toBe(false);
  });

  it("locks of many buyers on one node, group-committed in one batch, each reach their author as lockedForYou and everyone else as locked", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 8));
    const users = await Promise.all(Array.from({ length: 6 }, () => createUser(world.env)));
    const clients = await Promise.all(users.map((u) => world.client(0, u.token).join(`seats:${eventId}`)));
    const watcher = await world.client(0).join(`seats:${eventId}`);
    // All pushed together: the node sends the first at once and batches the rest behind it.
    const replies = await Promise.all(clients.map((c, i) => push(c.channel, "lock", { seat: `A_${i + 1}` })));
    expect(replies.every((r) => r.status === "ok")).toBe(true);
    for (const [i, c] of clients.entries()) {
      await expect.poll(() => c.log.filter((m) => m.event === "locked" || m.event === "lockedForYou").length, { timeout: 5000 }).toBe(6);
      expect(c.log.filter((m) => m.event === "lockedForYou")).toEqual([{ event: "lockedForYou", payload: { seat: `A_${i + 1}`, seq: expect.any(Number) } }]);
      expect(c.log.some((m) => m.event === "locked" && (m.payload as { seat: string }).seat === `A_${i + 1}`)).toBe(false);
    }
    await expect.poll(() => watcher.log.filter((m) => m.event === "locked").length, { timeout: 5000 }).toBe(6);
  });

  it("refuses pushes with the reason: unauthorized, already_locked, not_yours, already_unlocked, unknown_seat, hold_limit", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 4), { holdMaxSeats: 2 });
    const [u1, u2] = [await createUser(world.env), await createUser(world.env)];
    const anon = await world.client(0).join(`seats:${eventId}`);
    const c1 = await world.client(0, u1.token).join(`seats:${eventId}`);
    const c2 = await world.client(1, u2.token).join(`seats:${eventId}`);
    expect(await push(anon.channel, "lock", { seat: "A_1" })).toMatchObject({ status: "error", response: { reason: "unauthorized" } });
    expect((await push(c1.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    expect(await push(c2.channel, "lock", { seat: "A_1" })).toMatchObject({ status: "error", response: { reason: "already_locked", seat: "A_1" } });
    expect(await push(c2.channel, "unlock", { seat: "A_1" })).toMatchObject({ status: "error", response: { reason: "not_yours" } });
    expect(await push(c2.channel, "unlock", { seat: "A_2" })).toMatchObject({ status: "error", response: { reason: "already_unlocked" } });
    expect(await push(c2.channel, "lock", { seat: "Z_99" })).toMatchObject({ status: "error", response: { reason: "unknown_seat" } });
    expect((await push(c1.channel, "lock", { seat: "A_2" })).status).toBe("ok");
    expect(await push(c1.channel, "lock", { seat: "A_3" })).toMatchObject({ status: "error", response: { reason: "hold_limit" } });
    expect(await push(c1.channel, "lock", {})).toMatchObject({ status: "error", response: { reason: "malformed_payload", field: "seat" } });
    expect(await push(c1.channel, "dance", {})).toMatchObject({ status: "error", response: { reason: "unsupported_event" } });
    const ext = await push(c1.channel, "extend", {});
    expect(ext).toMatchObject({ status: "ok", response: { extensions_left: 1 } });
    expect(await push(c2.channel, "extend", {})).toMatchObject({ status: "error", response: { reason: "no_hold" } });
  });

  it("a rejoin with last_seq gets only the missed events", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 6));
    const [u1, u2] = [await createUser(world.env), await createUser(world.env)];
    const w = await world.client(1, u2.token).join(`seats:${eventId}`);
    const seen = w.reply.seq as number;
    const c1 = await world.client(0, u1.token).join(`seats:${eventId}`);
    await push(c1.channel, "lock", { seat: "A_1" });
    await push(c1.channel, "lock", { seat: "A_2" });
    await push(c1.channel, "unlock", { seat: "A_1" });
    const re = await world.client(1, u2.token).join(`seats:${eventId}`, { last_seq: seen });
    expect(re.reply).toMatchObject({
      mode: "events",
      seq: seen + 3,
      events: [
        { event: "locked", seat: "A_1", seq: seen + 1 },
        { event: "locked", seat: "A_2", seq: seen + 2 },
        { event: "unlocked", seat: "A_1", seq: seen + 3 },
      ],
    });
    // The author catching up hears its own events as its own.
    const mine = await world.client(1, u1.token).join(`seats:${eventId}`, { last_seq: seen });
    expect((mine.reply.events as { event: string }[]).map((e) => e.event)).toEqual(["lockedForYou", "lockedForYou", "unlockedForYou"]);
    expect(mine.reply.hold).toMatchObject({ seats: ["A_2"] });
  });

  it("after Redis lost the event, last_seq from the old epoch gets a fresh snapshot, never events of another history", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 4));
    const [u1, u2] = [await createUser(world.env), await createUser(world.env)];
    const author = await world.client(0, u1.token).join(`seats:${eventId}`);
    await push(author.channel, "lock", { seat: "A_1" });
    await push(author.channel, "lock", { seat: "A_2" });
    const before = await world.client(1, u2.token).join(`seats:${eventId}`);
    expect(before.reply).toMatchObject({ seq: 2 });
    const oldEpoch = before.reply.epoch as string;
    expect(oldEpoch).toMatch(/^[0-9a-f]{12}$/);

    await unlinkMatching(world.env.redis, `${world.env.keys.event(eventId).base}*`); // a flush: locks gone, seq restarts
    const fresh = await world.client(0, u1.token).join(`seats:${eventId}`); // reloads the event: a new epoch
    expect(fresh.reply.epoch).not.toBe(oldEpoch);
    const u3 = await createUser(world.env);
    const again = await world.client(0, u3.token).join(`seats:${eventId}`);
    await push(again.channel, "lock", { seat: "A_3" });
    await push(again.channel, "lock", { seat: "A_4" });
    await push(again.channel, "unlock", { seat: "A_4" }); // the new history reaches seq 3

    const back = await world.client(1, u2.token).join(`seats:${eventId}`, { last_seq: 1, epoch: oldEpoch });
    expect(back.reply).toMatchObject({ mode: "snapshot", seats: { A_1: "available", A_2: "available", A_3: "locked", A_4: "available" } });
    expect(back.reply.epoch).toBe(fresh.reply.epoch);
  });

  it("answers unknown topics and events with errors", async () => {
    const c = world.client(0);
    await expect(c.join("nope:1")).rejects.toMatchObject({ reply: { reason: "unmatched topic" } });
    await expect(c.join("seats:00000000-0000-4000-8000-000000000000")).rejects.toMatchObject({ reply: { reason: "unknown_event" } });
    await expect(c.join("seats:not-a-uuid")).rejects.toMatchObject({ reply: { reason: "unknown_event" } });
  });
});
