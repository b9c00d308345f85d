import { describe, expect, it } from "vitest";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { createEvent, createUser, seatIdsGrid } from "../../../test/support/cluster.ts";

/**
 * A client back after a long absence rejoins with a `last_seq` the event's log (EVENT_LOG_MAX,
 * trimmed from the front) no longer reaches, on a node whose in-memory ring does not either (it
 * never watched the event). It must get a snapshot equal to Redis's map, not an error or a partial
 * list of events; a `last_seq` the log still holds must still get just the events it missed.
 */
const world = useCluster({ EVENT_LOG_MAX: "100" });

describe("a rejoin with a last_seq older than the trimmed event log", () => {
  it("gets a snapshot equal to the map; a last_seq the log still holds gets the missed events", { timeout: 60_000 }, async () => {
    const seatIds = seatIdsGrid(2, 10);
    const eventId = await createEvent(world.env, seatIds);
    const seats = world.cluster.seats;
    expect(await seats.events.ensureEventLoaded(eventId)).toBe(true);
    const watcher = await createUser(world.env);
    const first = await world.client(0, watcher.token).join(`seats:${eventId}`);
    const seen = first.reply.seq as number;
    const epoch = first.reply.epoch as string;

    // 1,193 seat transitions by other users while the watcher is away (nobody watches on node 1).
    for (let round = 0; round < 30; round++) {
      await Promise.all(
        seatIds.map(async (seatId, i) => {
          const userId = `away-${round}-${i}`;
          await seats.lock({ eventId, userId, seatId });
          if (round < 29 || i % 3 !== 0) await seats.unlock({ eventId, userId, seatId });
        }),
      );
    }
    const now = await seats.currentSeq(eventId);
    expect(now).toBe(seen + 2 * 600 - 7); // 600 locks, 593 unlocks
    expect(await seats.readLog(eventId, seen + 1)).toBeNull(); // the log was trimmed past the watcher

    const back = await world.client(1, watcher.token).join(`seats:${eventId}`, { last_seq: seen, epoch });
    expect(back.reply).toMatchObject({ mode: "snapshot", seq: now, epoch });
    const snap = await seats.snapshot({ eventId });
    const expected = Object.fromEntries(seatIds.map((s) => [s, snap.taken.get(s)?.state ?? "available"]));
    expect(back.reply.seats).toEqual(expected);
    expect(Object.values(expected).filter((s) => s === "locked")).toHaveLength(7);

    // Twenty transitions back is still in the log (and not in node 1's ring, which starts at `now`).
    const recent = await world.client(1, watcher.token).join(`seats:${eventId}`, { last_seq: now - 20, epoch });
    expect(recent.reply).toMatchObject({ mode: "events", seq: now });
    expect((recent.reply.events as { seq: number }[]).map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => now - 19 + i));
  });
});
