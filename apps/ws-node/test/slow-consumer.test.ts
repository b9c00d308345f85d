import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { encodePhx } from "@seatdrop/protocol";
import { createEvent, seatIdsGrid } from "../../../test/support/cluster.ts";
import { RawPhx, phxUrl } from "../../../test/support/raw-phx.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { sampleSendBuffer, sendBufferBytes } from "./send-buffer-support.ts";

// A small send-buffer bound, so a client that stops reading crosses it quickly. The joins-in-flight
// cap and the push rate (which charges a whole-map join a token per 64 KiB of its reply) are
// lifted: on a loaded machine they refused most of the 40 joins, and the few 200 KB replies left
// fitted in the kernel's buffers, so uWS never saw backpressure and the test waited for a close
// that never came. One node: the send buffer gauge read below is then this node's.
const world = useCluster({ WS_MAX_BACKPRESSURE: "16384", WS_JOINS_IN_FLIGHT: "64", WS_PUSH_RATE: "1000", WS_PUSH_BURST: "1000" }, { nodes: 1 });

describe("slow consumers", () => {
  it("a socket that stops reading is closed with 4408 once its send buffer passes WS_MAX_BACKPRESSURE, and the node's buffer stays bounded", async () => {
    const eventId = await createEvent(world.env, seatIdsGrid(100, 100)); // 10,000 seats: each join reply is ~200 KB
    const topic = `seats:${eventId}`;
    // The size of one join reply, read by a client that reads.
    const probe = new RawPhx(phxUrl(world.cluster.nodes[0]!.port));
    await probe.opened();
    const { joinRef } = await probe.join(topic);
    const replyBytes = Buffer.byteLength(probe.raw.find((f) => f.startsWith(`["${joinRef}","${joinRef}"`))!);
    probe.close();
    const ws = new WebSocket(`ws://127.0.0.1:${world.cluster.nodes[0]!.port}/socket/websocket?vsn=2.0.0`);
    await new Promise((r) => ws.once("open", r));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    const sampler = await sampleSendBuffer();
    // Stop reading from the TCP socket: what the server sends piles up in the kernel, then in uWS.
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    // Joins spaced out so each is answered (a newer join of the same topic supersedes an unanswered
    // one): 80 replies, 15 MB, more than the kernel's socket buffers can absorb (loopback autotuning
    // takes up to about 10 MB; with 40 joins the test waited for ever on a busy CI run).
    const joins = 80;
    for (let i = 1; i <= joins; i++) {
      ws.send(encodePhx(String(i), String(i), topic, "phx_join", {}));
      await new Promise((r) => setTimeout(r, 40));
    }
    await new Promise((r) => setTimeout(r, 1500)); // the node's slow-consumer sweep runs every second
    (ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const { code, reason } = await closed;
    // Memory: the node never held more for it than the bound plus one join reply let drain above it
    // (sendJoinReply; the frame that would cross is not sent), and nothing once it was closed.
    const bound = world.env.config.WS_MAX_BACKPRESSURE;
    const peak = sampler.peak();
    sampler.stop();
    expect(peak).toBeGreaterThan(bound); // it did buffer: the case under test
    expect(peak).toBeLessThanOrEqual(bound + replyBytes);
    expect(await sendBufferBytes()).toBe(0);
    expect(code).toBe(4408);
    expect(reason).toContain("slow consumer");
    console.log(
      `slow consumer: ${joins} joins of a ${replyBytes}-byte reply; node's send buffer peak ${peak} bytes ` +
        `(bound ${bound}), ${await sendBufferBytes()} after the close`,
    );
    // The node is fine and serves others.
    const other = new WebSocket(`ws://127.0.0.1:${world.cluster.nodes[0]!.port}/socket/websocket?vsn=2.0.0`);
    await new Promise((r) => other.once("open", r));
    other.close();
  }, 90_000); // sized for a loaded 2-core CI: 80 joins of a 10,000-seat map, 40 ms apart
});

