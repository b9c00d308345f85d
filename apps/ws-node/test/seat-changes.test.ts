import { unlinkMatching } from "@seatdrop/redis";
import { describe, expect, it } from "vitest";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { createEvent, createUser, eventually, push, seatIdsGrid } from "../../../test/support/cluster.ts";
import { createSectionedEvent, joinChanges, seatRange, sorted, takenInRedis } from "./changes-support.ts";

/**
 * Joins with `{"changes": true}` get compact snapshots and coalesced `changes` frames, optionally
 * per section; stock phoenix clients on two real ws-nodes.
 */
const world = useCluster({ SEAT_TICK_MS: "50" });

/** Random lock/unlock traffic of `users` buyers spread over both nodes; resolves when all are done. */
async function churn(eventId: string, seatIds: string[], users: number, opsEach: number): Promise<number> {
  let done = 0;
  await Promise.all(
    Array.from({ length: users }, async (_, i) => {
      const u = await createUser(world.env);
      const c = await world.client(i % 2, u.token).join(`seats:${eventId}`, { changes: true });
      const mine = new Set<string>();
      for (let k = 0; k < opsEach; k++) {
        const held = [...mine];
        if (held.length > 0 && (held.length >= 3 || k % 3 === 2)) {
          const seat = held[k % held.length]!;
          if ((await push(c.channel, "unlock", { seat })).status === "ok") done++;
          mine.delete(seat);
        } else {
          const seat = seatIds[(i * 7 + k * 13) % seatIds.length]!;
          if ((await push(c.channel, "lock", { seat })).status === "ok") {
            mine.add(seat);
            done++;
          }
        }
      }
    }),
  );
  return done;
}

describe("seats channel with changes", () => {
  it("a changes join gets a compact snapshot and changes frames; a legacy join on the same node keeps its per-change events", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(2, 5));
    const [alice, bob] = [await createUser(world.env), await createUser(world.env)];
    const a = await world.client(0, alice.token).join(`seats:${eventId}`);
    await push(a.channel, "lock", { seat: "A_1" });

    const legacy = await world.client(1).join(`seats:${eventId}`);
    const w = await joinChanges(world.client(1, bob.token), eventId);
    expect(Object.keys(legacy.reply.seats as object)).toHaveLength(10);
    expect(w.reply).toMatchObject({ mode: "snapshot", seq: 1, user_id: bob.id, seats: { A_1: "locked" }, hold: null });
    expect(w.reply.epoch).toBe(legacy.reply.epoch);
    expect(Object.keys(w.reply.seats as object)).toEqual(["A_1"]); // no available seat listed

    await push(a.channel, "lock", { seat: "A_2" });
    await push(a.channel, "unlock", { seat: "A_1" });
    await eventually(() => legacy.log.length >= 2, 5000, "legacy events");
    expect(legacy.log).toEqual([
      { event: "locked", payload: { seat: "A_2", seq: 2 } },
      { event: "unlocked", payload: { seat: "A_1", seq: 3 } },
    ]);
    await eventually(() => (w.map.drain(), w.map.seqOf.get("") === 3), 5000, "changes up to seq 3");
    expect(w.log.every((m) => m.event === "changes")).toBe(true);
    expect(w.map.frames[0]!.since).toBe(1);
    expect(sorted(w.map.taken)).toEqual([["A_2", "locked"]]);
    expect(w.map.gaps).toEqual([]);

    // The author still hears its own pushes at once, as its own, in changes mode too.
    const b = await joinChanges(world.client(0, bob.token), eventId);
    expect((await push(b.channel, "lock", { seat: "B_1" })).status).toBe("ok");
    await eventually(() => b.log.find((m) => m.event === "lockedForYou"), 5000, "lockedForYou");
    await eventually(() => (b.map.drain(), b.map.taken.get("B_1") === "locked"), 5000, "own lock in a changes frame");
    expect(b.log.some((m) => m.event === "locked")).toBe(false);
  });

  it("stock phoenix clients on two nodes converge to the map in Redis under concurrent locking, with an unbroken since/seq chain", async () => {
    const seatIds = seatIdsGrid(4, 10);
    const eventId = await createEvent(world.env, seatIds, { holdMaxSeats: 5 });
    const watchers = await Promise.all([0, 1, 0, 1].map((n) => joinChanges(world.client(n), eventId)));
    const done = await churn(eventId, seatIds, 6, 25);
    expect(done).toBeGreaterThan(30);
    const truth = await takenInRedis(world.cluster.seats, eventId);
    const seq = await world.cluster.seats.currentSeq(eventId);
    for (const w of watchers) {
      await eventually(() => (w.map.drain(), w.map.seqOf.get("") === seq), 10_000, `a watcher reaching seq ${seq}`);
      expect(sorted(w.map.taken)).toEqual(sorted(truth));
      expect(w.map.gaps).toEqual([]);
      const f = w.map.frames;
      expect(f[0]!.since).toBeLessThanOrEqual(w.reply.seq as number);
      for (let i = 1; i < f.length; i++) expect(f[i]!.since).toBe(f[i - 1]!.seq);
      // Every frame carries final states of distinct seats: no seat twice in one frame, and fewer
      // frames than events (each seq is at most one frame's end).
      expect(f.length).toBeLessThanOrEqual(seq - (w.reply.seq as number));
    }
  });

  it("a rejoin with last_seq and epoch gets the final states of the seats changed since, and converges", async () => {
    const seatIds = seatIdsGrid(2, 10);
    const eventId = await createEvent(world.env, seatIds);
    const u = await createUser(world.env);
    const locker = await world.client(0, u.token).join(`seats:${eventId}`);
    await push(locker.channel, "lock", { seat: "A_1" });
    await push(locker.channel, "lock", { seat: "A_2" });

    const client = world.client(1);
    const first = await joinChanges(client, eventId);
    expect(first.reply).toMatchObject({ seq: 2, seats: { A_1: "locked", A_2: "locked" } });
    first.channel.leave();
    await push(locker.channel, "unlock", { seat: "A_1" });
    await push(locker.channel, "lock", { seat: "B_5" });
    await push(locker.channel, "lock", { seat: "B_6" });
    await push(locker.channel, "unlock", { seat: "B_6" });

    const back = await client.join(`seats:${eventId}`, { changes: true, last_seq: first.reply.seq, epoch: first.reply.epoch });
    expect(back.reply).toMatchObject({ mode: "changes", seq: 6, epoch: first.reply.epoch, seats: { A_1: "available", B_5: "locked", B_6: "available" } });
    expect(Object.keys(back.reply.seats as object).sort()).toEqual(["A_1", "B_5", "B_6"]);
    first.map.reset(back.reply);
    expect(sorted(first.map.taken)).toEqual(sorted(await takenInRedis(world.cluster.seats, eventId)));

    // From another epoch, the numbers mean nothing: a compact snapshot instead.
    const other = await client.join(`seats:${eventId}`, { changes: true, last_seq: 1, epoch: "000000000000" });
    expect(other.reply).toMatchObject({ mode: "snapshot", seq: 6, seats: { A_2: "locked", B_5: "locked" } });
  });

  it("refuses malformed changes and sections, naming the field", async () => {
    const eventId = await createSectionedEvent(world.env, { floor: seatRange("F", 3), balcony: seatRange("B", 3) });
    const c = world.client(0);
    await expect(c.join(`seats:${eventId}`, { changes: "yes" })).rejects.toMatchObject({ reply: { reason: "malformed_payload", field: "changes" } });
    await expect(c.join(`seats:${eventId}`, { changes: true, sections: "floor" })).rejects.toMatchObject({ reply: { reason: "malformed_payload", field: "sections" } });
    await expect(c.join(`seats:${eventId}`, { changes: true, sections: [] })).rejects.toMatchObject({ reply: { reason: "malformed_payload", field: "sections" } });
    const unknown = (await c.join(`seats:${eventId}`, { changes: true, sections: ["floor", "roof"] }).then(
      () => ({}),
      (e: { reply: Record<string, unknown> }) => e.reply,
    )) as Record<string, unknown>;
    expect(unknown).toMatchObject({ reason: "malformed_payload", field: "sections" });
    expect(unknown.message).toContain('"roof"');
    await expect(c.join(`seats:${eventId}`, { sections: ["floor"] })).rejects.toMatchObject({ reply: { reason: "malformed_payload", field: "sections", message: expect.stringContaining("changes") } });
  });

  it("a section watcher gets only its sections' seats, in the snapshot and in per-section frames with their own since/seq", async () => {
    const layout = { floor: seatRange("F", 20), balcony: seatRange("B", 20), box: seatRange("X", 5) };
    const eventId = await createSectionedEvent(world.env, layout);
    const u = await createUser(world.env);
    const locker = await world.client(0, u.token).join(`seats:${eventId}`, { changes: true });
    await push(locker.channel, "lock", { seat: "F_1" });
    await push(locker.channel, "lock", { seat: "B_1" });

    const balcony = await joinChanges(world.client(1), eventId, { sections: ["balcony"] });
    expect(balcony.reply).toMatchObject({ mode: "snapshot", seq: 2, sections: ["balcony"], seats: { B_1: "locked" } });
    expect(Object.keys(balcony.reply.seats as object)).toEqual(["B_1"]);
    const two = await joinChanges(world.client(0), eventId, { sections: ["floor", "balcony"] });
    expect(Object.keys(two.reply.seats as object).sort()).toEqual(["B_1", "F_1"]);
    const whole = await joinChanges(world.client(1), eventId);

    const seats = [...layout.floor, ...layout.balcony, ...layout.box];
    await churn(eventId, seats, 4, 20);
    const seq = await world.cluster.seats.currentSeq(eventId);
    await eventually(() => (whole.map.drain(), whole.map.seqOf.get("") === seq), 10_000, "the whole-event watcher");
    const truth = await takenInRedis(world.cluster.seats, eventId);
    expect(sorted(whole.map.taken)).toEqual(sorted(truth));

    const inSections = (names: string[]) => (seat: string) => names.some((n) => layout[n as keyof typeof layout].includes(seat));
    for (const [w, names] of [
      [balcony, ["balcony"]],
      [two, ["floor", "balcony"]],
    ] as const) {
      const want = new Map([...truth].filter(([seat]) => inSections([...names])(seat)));
      await eventually(() => (w.map.drain(), sorted(w.map.taken).join() === sorted(want).join()), 10_000, `the ${names.join("+")} watcher converging`);
      expect(w.map.gaps).toEqual([]);
      for (const f of w.map.frames) {
        expect(names).toContain(f.section);
        for (const seat of Object.keys(f.seats)) expect(inSections([f.section!])(seat)).toBe(true);
      }
      // Each section's frames chain on their own.
      for (const name of names) {
        const f = w.map.frames.filter((x) => x.section === name);
        expect(f.length).toBeGreaterThan(0);
        for (let i = 1; i < f.length; i++) expect(f[i]!.since).toBe(f[i - 1]!.seq);
      }
    }
    // The balcony watcher never heard of a floor or box seat.
    expect(balcony.map.frames.flatMap((f) => Object.keys(f.seats)).every((s) => s.startsWith("B_"))).toBe(true);
  });

  it("a 100,000-seat event with 500 taken seats answers a changes join in under 20 KB, listing no available seat", async () => {
    const ids = seatRange("S", 100_000);
    const eventId = await createSectionedEvent(world.env, { hall: ids });
    expect(await world.cluster.seats.events.ensureEventLoaded(eventId)).toBe(true);
    const taken = ids.filter((_, i) => i % 200 === 7); // 500 seats spread over the venue
    expect(taken).toHaveLength(500);
    for (let i = 0; i < taken.length; i += 50)
      await Promise.all(taken.slice(i, i + 50).map((seatId) => world.cluster.seats.setSeatState({ eventId, seatId, action: "reserve" })));
    const u = await createUser(world.env);
    const holder = await world.client(0, u.token).join(`seats:${eventId}`, { changes: true });
    await push(holder.channel, "lock", { seat: "S_1" });

    const c = world.client(1, u.token);
    const frames: string[] = [];
    c.socket.onMessage((msg: object) => {
      const m = msg as { join_ref: string | null; ref: string | null; event: string; payload: unknown; topic: string };
      // The frame as the server encoded it: the same array, JSON.stringify'd.
      if (m.event === "phx_reply" && m.topic === `seats:${eventId}`) frames.push(JSON.stringify([m.join_ref, m.ref, m.topic, m.event, m.payload]));
    });
    const j = await joinChanges(c, eventId);
    const seats = j.reply.seats as Record<string, string>;
    expect(Object.keys(seats)).toHaveLength(501);
    expect(Object.values(seats).filter((s) => s === "available")).toEqual([]);
    expect(seats.S_1).toBe("locked");
    expect(j.reply.hold).toMatchObject({ seats: ["S_1"] });
    const replyBytes = Buffer.byteLength(frames.find((f) => f.includes('"seq"'))!);
    expect(replyBytes).toBeLessThan(20_000);
  }, 120_000);

  it("a reloaded event (Redis lost it) announces its new epoch: quiet watchers are told to rejoin", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 4));
    const u = await createUser(world.env);
    const author = await world.client(0, u.token).join(`seats:${eventId}`);
    await push(author.channel, "lock", { seat: "A_1" });
    let errors = 0;
    const replies: Record<string, unknown>[] = [];
    const quiet = world.client(1);
    const params = { changes: true };
    const w = await quiet.join(`seats:${eventId}`, params);
    w.channel.onError(() => void errors++);
    // The stock client re-sends the same join on its own after phx_error; its ok hook fires again.
    (w.channel as unknown as { joinPush: { receive(s: string, f: (r: Record<string, unknown>) => void): void } }).joinPush.receive("ok", (r) => replies.push(r));
    const legacy = await world.client(1).join(`seats:${eventId}`);
    let legacyErrors = 0;
    legacy.channel.onError(() => void legacyErrors++);

    await unlinkMatching(world.env.redis, `${world.env.keys.event(eventId).base}*`); // Redis lost the event; nobody touches it on the watchers' node
    const reloadedAt = Date.now();
    expect(await world.cluster.seats.events.ensureEventLoaded(eventId)).toBe(true); // e.g. the worker's sweep
    await eventually(() => errors > 0 && legacyErrors > 0, 5000, "the watchers told to resync");
    const toldIn = Date.now() - reloadedAt;
    // receive() replays the first join's reply at once; the rejoin's comes after it.
    await eventually(() => replies.length > 1, 5000, "the rejoin");
    expect(replies.at(-1)!.epoch).not.toBe(w.reply.epoch);
    expect(replies.at(-1)).toMatchObject({ mode: "snapshot", seats: {} });
    console.log(`reloaded event: ${[errors, legacyErrors].filter((n) => n > 0).length} quiet watchers on the other node (changes, legacy) got phx_error ${toldIn} ms after the reload; the rejoin: ${String(replies.at(-1)!.mode)} under a new epoch, ${Object.keys(replies.at(-1)!.seats as object).length} taken seats, in ${Date.now() - reloadedAt} ms`);
  });

  it("a push in flight while its node resyncs the event gets a reply: its outcome, or a retryable resync error (docs/reliability.md, round one, finding 12)", async () => {
    // A lock on an event Redis lost reloads it (a new epoch, announced), so the node resyncs its
    // watchers while that very lock is still being served. Several rounds: the interleaving varies.
    const outcomes: string[] = [];
    for (let round = 0; round < 4; round++) {
      const eventId = await createEvent(world.env, seatIdsGrid(1, 4));
      const u = await createUser(world.env);
      const c = await world.client(round % 2, u.token).join(`seats:${eventId}`, { changes: true });
      await unlinkMatching(world.env.redis, `${world.env.keys.event(eventId).base}*`);
      const r = await push(c.channel, "lock", { seat: "A_1" });
      outcomes.push(r.status === "error" ? String(r.response.reason) : r.status);
      if (r.status === "error") expect(r.response).toMatchObject({ reason: "resync", retryable: true, seat: "A_1" });
    }
    expect(outcomes.filter((o) => o === "timeout")).toEqual([]);
  }, 120_000);

  it("an expired hold: its owner hears deleted, every changes watcher gets its seats back as available", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 4), { holdTtlMs: 400 });
    const u = await createUser(world.env);
    const owner = await joinChanges(world.client(0, u.token), eventId);
    const w = await joinChanges(world.client(1), eventId);
    await push(owner.channel, "lock", { seat: "A_1" });
    await push(owner.channel, "lock", { seat: "A_2" });
    await eventually(() => (w.map.drain(), w.map.taken.size === 2), 5000, "both locks seen");
    const deleted = await eventually(() => owner.log.find((m) => m.event === "deleted"), 10_000, "deleted to the owner");
    expect(deleted.payload).toMatchObject({ seats: ["A_1", "A_2"], reason: "expired" });
    await eventually(() => (w.map.drain(), w.map.taken.size === 0), 5000, "the seats available again");
    expect(w.map.gaps).toEqual([]);
    expect(w.log.every((m) => m.event === "changes")).toBe(true);
  });
});
