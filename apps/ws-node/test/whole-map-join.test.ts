import { describe, expect, it } from "vitest";
import { createEvent, createUser, seatIdsGrid } from "../../../test/support/cluster.ts";
import { RawPhx, phxUrl } from "../../../test/support/raw-phx.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";

/**
 * Whole-map joins (no `changes`) of a large venue (docs/reliability.md, round two, finding 3: 20
 * joins from one anonymous socket cost 9.3 s of ws-node CPU and sent 44 MB): the map's `seats` is
 * encoded once per (epoch, seq) and shared, and each reply is charged to the socket's bucket by its
 * size (a token per 64 KiB), so one socket cannot ask for the same map again and again.
 */
const w = useCluster({ WS_PUSH_RATE: "5", WS_PUSH_BURST: "40" });

describe("whole-map joins of a large venue", () => {
  it("every answered join carries the whole map at its seq; a socket asking for it again and again is refused rate_limited", async () => {
    const seatIds = seatIdsGrid(12, 1000); // 12,000 seats: a reply of about 200 KB, 3 tokens
    const eventId = await createEvent(w.env, seatIds);
    const user = await createUser(w.env);
    await w.cluster.seats.lock({ eventId, userId: user.id, seatId: "C_7" });
    const c = new RawPhx(phxUrl(w.cluster.nodes[0]!.port));
    await c.opened();
    const statuses: string[] = [];
    let sizes = 0;
    for (let i = 0; i < 20; i++) {
      const { reply } = await c.join(`seats:${eventId}`);
      statuses.push(String(reply.status === "ok" ? "ok" : reply.response.reason));
      if (reply.status === "ok") {
        const seats = reply.response.seats as Record<string, string>;
        expect(Object.keys(seats)).toHaveLength(seatIds.length);
        expect(seats.C_7).toBe("locked");
        expect(seats.A_1).toBe("available");
        expect(reply.response).toMatchObject({ mode: "snapshot", seq: 1 });
        sizes++;
      }
    }
    // 40 tokens at 5/s: a join takes its frame's token and 3 for its reply, so about 10 are answered
    // (more on a slow machine, as the bucket refills meanwhile). Charged one token each, all 20 were.
    expect(statuses.filter((s) => s === "ok").length).toBeGreaterThanOrEqual(6);
    expect(statuses.filter((s) => s === "rate_limited").length).toBeGreaterThanOrEqual(4);
    console.log(`whole-map joins, 12,000 seats: 20 asked back to back, ${sizes} answered with the whole map, ${statuses.filter((s) => s === "rate_limited").length} rate_limited`);
    c.close();
  });
});
