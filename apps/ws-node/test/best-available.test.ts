import { describe, expect, it } from "vitest";
import { events, seats as seatsTable } from "@seatdrop/db";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { createUser, push, seatIdsGrid, type EventSettings } from "../../../test/support/cluster.ts";
import { createRoomEvent } from "../../../test/support/waiting-room.ts";
import type { TestEnv } from "../../../test/support/test-env.ts";

const world = useCluster();

/**
 * An event whose seats have a layout: `rows` rows (A, B, …) of `perRow` seats in section `S`, ids
 * `<row>_<n>`, at `priceCents` (the rows named in `dear` at 9000).
 */
async function createLayoutEvent(env: TestEnv, rows: number, perRow: number, settings: EventSettings = {}, dear: string[] = []): Promise<string> {
  return env.db.db.transaction(async (tx) => {
    const [row] = await tx
      .insert(events)
      .values({ name: "Best drop", description: "best-available", location: "Hall", startTime: new Date(Date.now() + 86_400_000), endTime: new Date(Date.now() + 90_000_000), ...settings })
      .returning();
    const values = seatIdsGrid(rows, perRow).map((seatId) => {
      const [r, n] = seatId.split("_");
      return { eventId: row!.id, seatId, section: "S", row: r!, number: Number(n), priceCents: dear.includes(r!) ? 9000 : 1000 };
    });
    await tx.insert(seatsTable).values(values);
    return row!.id;
  });
}

/** A block: seats of one row with consecutive numbers. */
function isBlock(seats: string[]): boolean {
  const rows = new Set(seats.map((s) => s.split("_")[0]));
  const nums = seats.map((s) => Number(s.split("_")[1]));
  return rows.size === 1 && nums.every((n, i) => n === nums[0]! + i);
}

describe("best_available on seats channels", () => {
  it("locks the best block into the caller's hold; watchers on the other node see every seat locked; it counts against the hold limit", async () => {
    const eventId = await createLayoutEvent(world.env, 3, 8, { holdMaxSeats: 4 });
    const [alice, bob] = [await createUser(world.env), await createUser(world.env)];
    const a = await world.client(0, alice.token).join(`seats:${eventId}`);
    const b = await world.client(1, bob.token).join(`seats:${eventId}`);

    const r = await push(a.channel, "best_available", { count: 3 });
    expect(r).toMatchObject({ status: "ok", response: { seats: ["A_3", "A_4", "A_5"], hold_size: 3, seq: 3, expires_at: expect.any(Number) } });
    await expect.poll(() => b.log.filter((m) => m.event === "locked").length, { timeout: 5000 }).toBe(3);
    expect(b.log.filter((m) => m.event === "locked").map((m) => m.payload.seat)).toEqual(["A_3", "A_4", "A_5"]);
    await expect.poll(() => a.log.filter((m) => m.event === "lockedForYou").length, { timeout: 5000 }).toBe(3);
    expect(a.log.some((m) => m.event === "locked")).toBe(false);

    // The hold has 3 of 4: a block of 2 is over the limit, a lock of one is not.
    expect(await push(a.channel, "best_available", { count: 2 })).toMatchObject({ status: "error", response: { reason: "hold_limit" } });
    expect(await push(a.channel, "lock", { seat: "C_1" })).toMatchObject({ status: "ok", response: { hold_size: 4 } });
    const again = await world.client(1, alice.token).join(`seats:${eventId}`);
    expect((again.reply.hold as { seats: string[] }).seats).toEqual(["A_3", "A_4", "A_5", "C_1"]);

    // Bob's best block of 3 avoids leaving A_1-A_2 or A_6-A_8 stranded badly: A_6-A_8 leaves nobody alone.
    expect(await push(b.channel, "best_available", { count: 3 })).toMatchObject({ status: "ok", response: { seats: ["A_6", "A_7", "A_8"] } });
    expect(await push(b.channel, "best_available", { count: 1, max_price: 5 })).toMatchObject({ status: "error", response: { reason: "no_block" } });
  });

  it("buyers racing on two nodes never overlap, never double-sell, and every success is one contiguous block", async () => {
    const eventId = await createLayoutEvent(world.env, 4, 10, { holdMaxSeats: 4 });
    const users = await Promise.all(Array.from({ length: 14 }, () => createUser(world.env)));
    const clients = await Promise.all(users.map((u, i) => world.client(i % 2, u.token).join(`seats:${eventId}`)));
    const replies = await Promise.all(clients.map((c, i) => push(c.channel, "best_available", { count: 2 + (i % 3) })));
    const won = new Map<string, string>();
    for (const [i, r] of replies.entries()) {
      if (r.status !== "ok") {
        expect(r.response.reason).toBe("no_block");
        continue;
      }
      const seats = r.response.seats as string[];
      expect(seats).toHaveLength(2 + (i % 3));
      expect(isBlock(seats)).toBe(true);
      for (const s of seats) {
        expect(won.has(s), `${s} given twice`).toBe(false);
        won.set(s, users[i]!.id);
      }
    }
    expect(won.size).toBeGreaterThan(20);
    // Redis agrees seat by seat: each seat won is locked by its winner, and nothing else is locked.
    const state = await world.env.redis.hgetall(world.env.keys.event(eventId).state);
    expect(Object.fromEntries(Object.entries(state).map(([k, v]) => [k, v.slice(2)]))).toEqual(Object.fromEntries(won));
  });

  it("with no block of count adjacent seats, refuses no_block with a split offer over the fewest rows (not locked)", async () => {
    const eventId = await createLayoutEvent(world.env, 2, 3);
    const u = await createUser(world.env);
    const c = await world.client(0, u.token).join(`seats:${eventId}`);
    const r = await push(c.channel, "best_available", { count: 4 });
    expect(r).toMatchObject({ status: "error", response: { reason: "no_block", message: expect.any(String), split: [["A_1", "A_2", "A_3"], ["B_1"]] } });
    expect(await world.env.redis.hlen(world.env.keys.event(eventId).state)).toBe(0);
  });

  it("refuses sales_paused, not_admitted, unauthorized and malformed payloads naming the field", async () => {
    const eventId = await createLayoutEvent(world.env, 2, 6, {}, ["A"]);
    const u = await createUser(world.env);
    const c = await world.client(0, u.token).join(`seats:${eventId}`);
    const anon = await world.client(1).join(`seats:${eventId}`);
    expect(await push(anon.channel, "best_available", { count: 2 })).toMatchObject({ status: "error", response: { reason: "unauthorized" } });
    for (const [payload, field] of [
      [{}, "count"],
      [{ count: 0 }, "count"],
      [{ count: 1.5 }, "count"],
      [{ count: "2" }, "count"],
      [{ count: 2, section: "Nowhere" }, "section"],
      [{ count: 2, section: 7 }, "section"],
      [{ count: 2, max_price: -1 }, "max_price"],
      [{ count: 2, max_price: "cheap" }, "max_price"],
    ] as const) {
      expect(await push(c.channel, "best_available", payload), JSON.stringify(payload)).toMatchObject({ status: "error", response: { reason: "malformed_payload", field } });
    }
    // max_price skips the dear front row; section S is known.
    expect(await push(c.channel, "best_available", { count: 2, section: "S", max_price: 10 })).toMatchObject({ status: "ok", response: { seats: ["B_3", "B_4"] } });

    await world.cluster.seats.events.setSalesPaused(eventId, true);
    expect(await push(c.channel, "best_available", { count: 1 })).toMatchObject({ status: "error", response: { reason: "sales_paused" } });

    const room = await createRoomEvent(world.env, seatIdsGrid(1, 4), { opensAt: new Date(Date.now() - 2000), salesOpenAt: new Date(Date.now() - 1000) });
    const w = await world.client(0, u.token).join(`seats:${room.eventId}`);
    expect(await push(w.channel, "best_available", { count: 1 })).toMatchObject({ status: "error", response: { reason: "not_admitted" } });
  });
});
