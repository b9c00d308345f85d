import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { encodePhx } from "@seatdrop/protocol";
import { createEvent, seatIdsGrid } from "../../../test/support/cluster.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";

// A small send-buffer bound, so a client that stops reading crosses it quickly. The joins-in-flight
// cap (issue 8) is lifted: on a loaded machine it refused most of the 40 joins, and the few 200 KB
// replies left fitted in the kernel's buffers, so uWS never saw backpressure.
const world = useCluster({ WS_MAX_BACKPRESSURE: "16384", WS_JOINS_IN_FLIGHT: "64" });

describe("slow consumers", () => {
  it("a socket that stops reading is closed with 4408 once its send buffer passes WS_MAX_BACKPRESSURE", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(100, 100)); // 10,000 seats: each join reply is ~200 KB
    const ws = new WebSocket(`ws://127.0.0.1:${world.cluster.nodes[0]!.port}/socket/websocket?vsn=2.0.0`);
    await new Promise((r) => ws.once("open", r));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    // Stop reading from the TCP socket: what the server sends piles up in the kernel, then in uWS.
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const topic = `seats:${eventId}`;
    // Joins spaced out so each is answered (a newer join of the same topic supersedes an unanswered one).
    for (let i = 1; i <= 40; i++) {
      ws.send(encodePhx(String(i), String(i), topic, "phx_join", {}));
      await new Promise((r) => setTimeout(r, 60));
    }
    await new Promise((r) => setTimeout(r, 1500)); // the node's slow-consumer sweep runs every second
    (ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const { code, reason } = await closed;
    expect(code).toBe(4408);
    expect(reason).toContain("slow consumer");
    // The node is fine and serves others.
    const other = new WebSocket(`ws://127.0.0.1:${world.cluster.nodes[0]!.port}/socket/websocket?vsn=2.0.0`);
    await new Promise((r) => other.once("open", r));
    other.close();
  }, 30_000);
});
