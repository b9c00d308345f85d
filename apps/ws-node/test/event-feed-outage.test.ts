import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "@seatdrop/observability";
import type { ChatBus } from "@seatdrop/chat";
import type { SeatService } from "@seatdrop/seats";
import { RoomFeed } from "../src/chat/room-feeds.ts";
import { EventFeed } from "../src/fanout/event-feed.ts";
import { eventually } from "../../../test/support/cluster.ts";

/**
 * A Redis outage while a feed fills a gap must not crash the node (an unhandled rejection ends a
 * Node 20 process, and every socket with it; vitest fails the run on one). The seat service here
 * stands in for Redis failing and coming back: the only way to make real Redis fail on cue.
 */
describe("event feed during a Redis outage", () => {
  /** Figures of the last run, printed as one line. */
  const figures: string[] = [];
  afterAll(() => console.log(`feeds during a Redis outage: ${figures.join("; ")}`));
  it("survives failing reads, then resyncs its watchers when Redis answers again", async () => {
    let redisUp = true;
    const fail = () => Promise.reject(new Error("Connection is closed."));
    const seats = {
      currentSeq: () => (redisUp ? Promise.resolve(7) : fail()),
      events: { epoch: () => (redisUp ? Promise.resolve("e1") : fail()) },
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
    const deliveredWhileDown = delivered.length;
    expect(delivered).toEqual([]);
    redisUp = true;
    const upAt = Date.now();
    await eventually(() => resyncs > 0, 8000, "resync after the outage");
    const resyncedIn = Date.now() - upAt;
    feed.push({ ev: [{ seq: 8, t: "locked", seat: "A_2", u: "u2" }], ep: "e1" });
    await eventually(() => delivered.includes(8), 2000, "delivery after the outage");
    figures.push(`seat feed: a gap found with Redis failing for 300 ms, ${deliveredWhileDown} delivered meanwhile; ${resyncs} resync ${resyncedIn} ms after Redis answered, then seq ${delivered.join(",")} delivered`);
  });

  it("a chat room feed retries too (it used to give up): no resync while Redis is down, then one from Redis's position", async () => {
    let redisUp = true;
    let seq = 7;
    const fail = () => Promise.reject(new Error("Connection is closed."));
    const bus = {
      presenceSnapshot: () => (redisUp ? Promise.resolve({ seq, epoch: "e1", entries: [] }) : fail()),
      currentSeq: () => (redisUp ? Promise.resolve({ seq, epoch: "e1" }) : fail()),
      readLog: () => (redisUp ? Promise.resolve(null) : fail()),
    } as unknown as ChatBus;
    const delivered: number[] = [];
    let resyncs = 0;
    const feed = new RoomFeed("ev", bus, async () => "active", (_e, m) => delivered.push(m.s), () => resyncs++, createLogger("test", "silent"), Promise.resolve());
    await feed.ready;
    expect(feed.lastSeq).toBe(7);
    redisUp = false;
    const status = { k: "status", status: "active" } as const;
    feed.push({ s: 10, ep: "e1", ev: status }); // reveals a gap (8, 9): the fill and the first retries fail
    await new Promise((r) => setTimeout(r, 300));
    const whileDown = { delivered: delivered.length, resyncs };
    expect({ delivered, resyncs }).toEqual({ delivered: [], resyncs: 0 });
    seq = 12; // Redis answers again, further on than the feed
    redisUp = true;
    const upAt = Date.now();
    await eventually(() => resyncs > 0, 8000, "resync after the outage");
    const resyncedIn = Date.now() - upAt;
    const resyncedTo = feed.lastSeq;
    expect(feed.lastSeq).toBe(12);
    feed.push({ s: 13, ep: "e1", ev: status });
    await eventually(() => delivered.includes(13), 2000, "delivery after the outage");
    expect(delivered).toEqual([13]);
    figures.push(`chat room feed: ${whileDown.delivered} delivered and ${whileDown.resyncs} resyncs while down; ${resyncs} resync to seq ${resyncedTo} ${resyncedIn} ms after Redis answered, then seq ${delivered.join(",")} delivered`);
  });
});
