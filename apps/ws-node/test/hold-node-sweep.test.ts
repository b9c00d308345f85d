import { describe, expect, it } from "vitest";
import { createEvent, createUser, firstLogged, push, seatIdsGrid } from "../../../test/support/cluster.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";

/**
 * With no worker at all (docs/reliability.md, round one, finding 15), expired holds are still
 * released within seconds by the ws-nodes' own sweep of the events they watch; and the re-lock
 * cool-down (finding 5) as a Phoenix client sees it.
 */
const COOL_MS = 1500;
const world = useCluster({ WS_HOLD_SWEEP_MS: "200", HOLD_RELOCK_COOLDOWN_MS: String(COOL_MS) }, { worker: false });

describe("expired holds without a worker", () => {
  it("an idle buyer's expired hold is released by the nodes: the owner hears deleted, the others unlocked", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 3), { holdTtlMs: 800 });
    const [idle, watcher] = [await createUser(world.env), await createUser(world.env)];
    const o = await world.client(0, idle.token).join(`seats:${eventId}`);
    const first = await push(o.channel, "lock", { seat: "A_1" });
    expect(first.status).toBe("ok");
    expect((await push(o.channel, "lock", { seat: "A_2" })).status).toBe("ok");
    const w = await world.client(1, watcher.token).join(`seats:${eventId}`);
    const deadline = first.response.expires_at as number;
    // Nobody touches the event from here on: no worker, no lock, no join.
    const deleted = await firstLogged(o.log, "deleted");
    const deletedIn = Date.now() - deadline;
    expect(deleted.payload).toMatchObject({ seats: ["A_1", "A_2"], reason: "expired" });
    await expect.poll(() => w.log.filter((m) => m.event === "unlocked").length, { timeout: 5000, message: "two unlocked" }).toBe(2);
    expect(w.log.filter((m) => m.event === "unlocked").map((m) => m.payload.reason)).toEqual(["expired", "expired"]);
    expect(await world.env.redis.hlen(world.env.keys.event(eventId).state)).toBe(0);
    console.log(`node sweep, no worker: hold of 0.8 s, owner heard deleted ${deletedIn} ms after the deadline (sweep every 200 ms), the other node's watcher ${w.log.filter((m) => m.event === "unlocked").length} unlocked`);
  });
});

describe("the re-lock cool-down", () => {
  it("refuses the user whose hold just expired with relock_cooldown and retry_after_ms, lets others lock, and ends", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(1, 2), { holdTtlMs: 500 });
    const [farmer, other] = [await createUser(world.env), await createUser(world.env)];
    const f = await world.client(0, farmer.token).join(`seats:${eventId}`);
    const o = await world.client(1, other.token).join(`seats:${eventId}`);
    expect((await push(f.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    await expect.poll(() => f.log.find((m) => m.event === "deleted"), { timeout: 8000, message: "deleted" }).toBeTruthy();
    const refused = await push(f.channel, "lock", { seat: "A_1" });
    expect(refused).toMatchObject({ status: "error", response: { reason: "relock_cooldown", seat: "A_1" } });
    const wait = refused.response.retry_after_ms as number;
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(COOL_MS);
    // Someone else may take it at once, and give it back.
    expect((await push(o.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    expect((await push(o.channel, "unlock", { seat: "A_1" })).status).toBe("ok");
    // A plain unlock cools the seat down for its author too (docs/reliability.md, round two,
    // finding 4), in a key of its own: the other user's lock and unlock did not erase the farmer's.
    expect(await push(o.channel, "lock", { seat: "A_1" })).toMatchObject({ status: "error", response: { reason: "relock_cooldown", seat: "A_1" } });
    expect(await push(f.channel, "lock", { seat: "A_1" })).toMatchObject({ status: "error", response: { reason: "relock_cooldown" } });
    await new Promise((r) => setTimeout(r, wait + 50));
    expect((await push(f.channel, "lock", { seat: "A_1" })).status).toBe("ok");
    console.log(`re-lock cool-down ${COOL_MS} ms: the farmer's re-lock after deleted refused ${String(refused.response.reason)} (retry_after_ms ${wait}), another user locked it at once, the farmer locked it again ${wait + 50} ms later`);
  });
});
