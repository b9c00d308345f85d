import { describe, expect, it } from "vitest";
import { createLogger } from "@seatdrop/observability";
import type { SeatService } from "@seatdrop/seats";
import { EventFeed } from "../src/fanout/event-feed.ts";
import { eventually } from "../../../test/support/cluster.ts";

/**
 * A Redis outage while a feed fills a gap must not crash the node (an unhandled rejection ends a
 * Node 20 process, and every socket with it; vitest fails the run on one). The seat service here
 * stands in for Redis failing and coming back: the only way to make real Redis fail on cue.
 */
describe("event feed during a Redis outage", () => {
  it("survives failing reads, then resyncs its watchers when Redis answers again", async () => {
    let redisUp = true;
    const fail = () => Promise.reject(new Error("Connection is closed."));
    const seats = {
      currentSeq: () => (redisUp ? Promise.resolve(7) : fail()),
      epoch: () => (redisUp ? Promise.resolve("e1") : fail()),
      readLog: () => (redisUp ? Promise.resolve(null) : fail()),
    } as unknown as SeatService;
    const delivered: number[] = [];
    let resyncs = 0;
    const feed = new EventFeed(
      "ev",
      seats,
      (_e, events) => delivered.push(...events.map((x) => x.seq)),
      () => resyncs++,
      createLogger("test", "silent"),
      Promise.resolve(),
    );
    await feed.ready;
    expect(feed.lastSeq).toBe(7);
    redisUp = false;
    // seq 10 reveals a gap (8, 9): the fill fails, as does the first reset.
    feed.push({ ev: [{ seq: 10, t: "locked", seat: "A_1", u: "u1" }], ep: "e1" });
    await new Promise((r) => setTimeout(r, 300));
    expect(delivered).toEqual([]);
    redisUp = true;
    await eventually(() => resyncs > 0, 8000, "resync after the outage");
    feed.push({ ev: [{ seq: 8, t: "locked", seat: "A_2", u: "u2" }], ep: "e1" });
    await eventually(() => delivered.includes(8), 2000, "delivery after the outage");
  });
});
