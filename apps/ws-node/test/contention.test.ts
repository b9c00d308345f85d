import { describe, expect, it } from "vitest";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { createEvent, createUser, push, seatIdsGrid } from "../../../test/support/cluster.ts";

const w = useCluster();

describe("contention", () => {
  it("200 clients on two nodes race for 50 seats: one holder per seat, every refusal says why", async () => {
    const seatIds = seatIdsGrid(5, 10);
    const eventId = await createEvent(w.env, seatIds, { holdMaxSeats: 1 });
    const players = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const user = await createUser(w.env);
        const c = w.client(i % 2, user.token);
        const { channel } = await c.join(`seats:${eventId}`);
        return { user, channel };
      }),
    );
    // Four players want each seat first, then four more seats each: every seat is fought over, and
    // (one seat per buyer, as big drops do) each winner's further tries run into the hold limit.
    const wants = (i: number) => [1, 7, 13, 3, 11].map((k, j) => seatIds[(i * k + j) % 50]!);
    const winners = new Map<string, string[]>();
    const refusals = new Map<string, number>();
    const rtts: number[] = [];
    const started = performance.now();
    await Promise.all(
      players.map(async (p, i) => {
        for (const seat of new Set(wants(i))) {
          const t0 = performance.now();
          const r = await push(p.channel, "lock", { seat });
          rtts.push(performance.now() - t0);
          if (r.status === "ok") winners.set(seat, [...(winners.get(seat) ?? []), p.user.id]);
          else refusals.set(String(r.response.reason), (refusals.get(String(r.response.reason)) ?? 0) + 1);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    rtts.sort((a, b) => a - b);
    console.log(
      `contention: ${rtts.length} lock round trips in ${seconds.toFixed(2)} s = ${(rtts.length / seconds).toFixed(0)}/s; ` +
        `p50 ${rtts[Math.floor(rtts.length * 0.5)]!.toFixed(1)} ms, p99 ${rtts[Math.floor(rtts.length * 0.99)]!.toFixed(1)} ms; refusals ${JSON.stringify(Object.fromEntries(refusals))}`,
    );

    for (const [seat, users] of winners) expect(users, `seat ${seat} granted to ${users.length} users`).toHaveLength(1);
    expect([...refusals.keys()].sort()).toEqual(["already_locked", "hold_limit"]);
    expect(winners.size).toBe(50);
    const snap = await w.cluster.seats.snapshot({ eventId });
    expect(snap.taken.size).toBe(50);
    for (const [seat, s] of snap.taken) expect(s).toEqual({ state: "locked", userId: winners.get(seat)![0] });
    const perUser = new Map<string, number>();
    for (const [, [u]] of winners) perUser.set(u!, (perUser.get(u!) ?? 0) + 1);
    expect(Math.max(...perUser.values())).toBe(1);
  });
});
