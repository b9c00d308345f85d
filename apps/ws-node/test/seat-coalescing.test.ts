import { describe, expect, it } from "vitest";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { createEvent, createUser, push, seatIdsGrid } from "../../../test/support/cluster.ts";
import { joinChanges } from "./changes-support.ts";

/**
 * The `changes` tick (SEAT_TICK_MS), made long (8 s) so the two behaviours are told apart without
 * measuring time: a quiet room's first change arrives well before the tick could have fired, and
 * the changes that follow within the tick wait for it and arrive together, as one frame of final
 * states.
 */
const TICK_MS = 8000;
const world = useCluster({ SEAT_TICK_MS: String(TICK_MS) });

describe("changes frames are coalesced per tick", () => {
  it("the first change of a quiet room goes out at once; later ones in the tick wait and arrive as one frame of final states", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 6));
    const u = await createUser(world.env);
    const author = await joinChanges(world.client(0, u.token), eventId);
    const w = await joinChanges(world.client(1), eventId);
    const legacy = await world.client(1).join(`seats:${eventId}`);

    expect((await push(author.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    // Half a tick: only an immediate flush can arrive in time.
    await expect.poll(() => w.map.drain() > 0 || w.map.frames.length > 0, { timeout: TICK_MS / 2, message: "the quiet room's first change" }).toBeTruthy();
    expect(w.map.frames).toEqual([{ since: 0, seq: 1, seats: { A_1: "locked" } }]);

    for (const [ev, seat] of [
      ["lock", "A_2"],
      ["lock", "A_3"],
      ["unlock", "A_2"],
      ["lock", "A_4"],
      ["lock", "A_5"],
      ["unlock", "A_5"],
    ] as const)
      expect((await push(author.channel, ev, { seat })).status).toBe("ok");
    // The node has them all (its legacy watcher heard each at once; the author its own at once)...
    await expect.poll(() => legacy.log.length, { timeout: TICK_MS / 2, message: "every per-change event" }).toBeGreaterThanOrEqual(7);
    expect(author.log.filter((m) => m.event === "lockedForYou" || m.event === "unlockedForYou")).toHaveLength(7);
    // ...but the changes watcher waits for the tick.
    w.map.drain();
    expect(w.map.frames).toHaveLength(1);

    await expect.poll(() => w.map.drain() > 0 || w.map.frames.length > 1, { timeout: TICK_MS * 2, message: "the tick's frame" }).toBeTruthy();
    expect(w.map.frames).toHaveLength(2);
    expect(w.map.frames[1]).toEqual({ since: 1, seq: 7, seats: { A_2: "available", A_3: "locked", A_4: "locked", A_5: "available" } });
    expect(w.map.gaps).toEqual([]);
    expect([...w.map.taken.keys()].sort()).toEqual(["A_1", "A_3", "A_4"]);
  }, 60_000);
});
