import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PhxClient, createUser, push } from "../../../test/support/cluster.ts";
import { RawPhx, phxUrl } from "../../../test/support/raw-phx.ts";
import { SlowLink, slowLinkAvailable } from "../../../test/support/slow-link.ts";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { createSectionedEvent, seatRange } from "./changes-support.ts";
import { joinRepliesOverBound, sampleSendBuffer, sendBufferBytes, slowConsumerCloses } from "./send-buffer-support.ts";

/**
 * docs/reliability.md, round one, a suspected finding: "a 100,000-seat join snapshot larger than
 * WS_MAX_BACKPRESSURE closes the joiner with 4408 over a real network". A stock client joining
 * `seats:<id>` without `changes` gets every seat in its reply: 2.2 MB for 100,000 seats, twice the
 * default bound (1 MiB, not overridden here). Over loopback the kernel swallows it whole; over a
 * real path it takes the first ~80 KB and uWS keeps the rest, which the node used to measure
 * against the bound and close the joiner with 4408 right after the reply, on each of its rejoins
 * too. The slow link (test/support/slow-link.py) gives the node's kernel a real network's segment
 * size and carries the bytes at 4 Mbit/s.
 */
// Shorter than the default 5 s, so the second test is quick; still under the ~4.4 s the first
// test's reply takes to drain, so that one shows a reader making progress is let be.
const STALL_MS = 3000;
const world = useCluster({ WS_REPLY_STALL_MS: String(STALL_MS) }, { nodes: 1 });
const LINK_RATE = 500_000; // bytes per second: 4 Mbit/s, a mobile link; the 2.2 MB reply takes ~4.4 s
const python = slowLinkAvailable();
if (!python) console.warn("join-snapshot.test.ts: python3 not found; the slow-link tests are skipped");

describe.skipIf(!python)("a 100,000-seat join snapshot over a slow network", () => {
  let eventId: string;
  const links: SlowLink[] = [];
  const clients: PhxClient[] = [];
  const bound = () => world.env.config.WS_MAX_BACKPRESSURE;
  const link = async () => {
    const l = new SlowLink(world.cluster.nodes[0]!.port, LINK_RATE);
    links.push(l);
    await l.start();
    return l;
  };

  beforeAll(async () => {
    eventId = await createSectionedEvent(world.env, { hall: seatRange("S", 100_000) });
    expect(await world.cluster.seats.events.ensureEventLoaded(eventId)).toBe(true);
  }, 120_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => new Promise<void>((r) => c.socket.disconnect(() => r(), 1000, "test done"))));
    for (const l of links) await l.close();
  });

  it("a stock client's full snapshot, twice WS_MAX_BACKPRESSURE, reaches the joiner, which stays open; what queued behind it arrives", async () => {
    const l = await link();
    const buyer = await createUser(world.env);
    const other = await createUser(world.env);
    const c = new PhxClient(l.port, buyer.token);
    clients.push(c);
    const closes: number[] = [];
    c.socket.onClose((e) => void closes.push(e.code));
    let replyBytes = 0;
    c.socket.onMessage((msg: object) => {
      const m = msg as { join_ref: string | null; ref: string | null; topic: string; event: string; payload: unknown };
      // The frame as the server encoded it: the same array, JSON.stringify'd.
      if (m.event === "phx_reply" && m.topic === `seats:${eventId}`) replyBytes ||= Buffer.byteLength(JSON.stringify([m.join_ref, m.ref, m.topic, m.event, m.payload]));
    });
    const overBefore = await joinRepliesOverBound();
    const sampler = await sampleSendBuffer();
    const t0 = Date.now();
    const joined = c.join(`seats:${eventId}`);
    // The reply waits in the node's own send buffer, above the bound: the case of a real network.
    await expect.poll(joinRepliesOverBound, { timeout: 30_000, message: "the reply never waited in uWS's buffer above the bound" }).toBe(overBefore + 1);
    // A seat locked meanwhile: its broadcast queues behind the reply.
    await world.cluster.seats.lock({ eventId, userId: other.id, seatId: "S_2" });
    const { channel, reply, log } = await joined;
    const joinMs = Date.now() - t0;
    const seats = reply.seats as Record<string, string>;
    expect(Object.keys(seats)).toHaveLength(100_000);
    expect(replyBytes).toBeGreaterThan(2 * bound());
    // The broadcast that queued behind the reply arrives on the same join (a 4408 would have made the
    // stock client reconnect and rejoin, with S_2 in its new snapshot instead).
    await expect
      .poll(() => (closes.length > 0 ? { closes } : log.find((m) => m.event === "locked" && m.payload.seat === "S_2")?.event), { timeout: 30_000 })
      .toBe("locked");
    // Drained: the socket is open and serves its owner, and was never closed.
    expect(await push(channel, "lock", { seat: "S_3" })).toMatchObject({ status: "ok" });
    const peak = sampler.peak();
    sampler.stop();
    expect(closes).toEqual([]);
    console.log(
      `legacy join of 100,000 seats over a ${LINK_RATE / 1000} KB/s link: reply ${replyBytes} bytes in ${joinMs} ms; ` +
        `peak send buffer on the node ${peak} bytes (bound ${bound()}); closes ${closes.length}`,
    );
  }, 90_000);

  it("a joiner that stops reading while its snapshot drains is closed 4408 once its buffer stops going down, and the node lets the buffer go", async () => {
    const l = await link();
    const c = new RawPhx(phxUrl(l.port));
    await c.opened();
    const closesBefore = await slowConsumerCloses();
    const sampler = await sampleSendBuffer();
    const ref = c.ref();
    c.send([ref, ref, `seats:${eventId}`, "phx_join", {}]);
    await expect.poll(sendBufferBytes, { timeout: 30_000, message: "the reply never waited in uWS's buffer above the bound" }).toBeGreaterThan(bound());
    l.stop(); // the client reads no more
    const stoppedAt = Date.now();
    // No progress for WS_REPLY_STALL_MS: closed as a slow consumer; its buffer no longer counts.
    await expect.poll(slowConsumerCloses, { timeout: 20_000 }).toBe(closesBefore + 1);
    const closedAfterMs = Date.now() - stoppedAt;
    expect(await sendBufferBytes()).toBe(0);
    const peak = sampler.peak();
    sampler.stop();
    l.go();
    // Once the link carries again, the client reads the rest of the reply, then the close.
    const { code } = await c.closed(30_000);
    expect(code).toBe(4408);
    const replyBytes = Buffer.byteLength(c.raw.find((f) => f.startsWith(`["${ref}","${ref}"`)) ?? "");
    expect(replyBytes).toBeGreaterThan(2 * bound());
    // The node held at most the reply and the bound for it.
    expect(peak).toBeLessThanOrEqual(replyBytes + bound());
    console.log(
      `a joiner that stopped reading mid-snapshot: closed 4408 ${closedAfterMs} ms after it stopped (WS_REPLY_STALL_MS ${STALL_MS}); ` +
        `peak send buffer on the node ${peak} bytes for a ${replyBytes}-byte reply`,
    );
  }, 90_000);

  // Broadcasts go through uWS topics (no per-socket check at the send), so the node sees what piled
  // up behind the reply at its slow-consumer sweep (every second): the buffer may pass the allowance
  // by up to a second of fan-out before that sweep, and the node closes at the first sample above it.
  // What the bound promises is what the node lets stand: never more than the reply and the bound.
  it("seat changes piling up behind a draining snapshot past WS_MAX_BACKPRESSURE close that joiner 4408 at the first sweep that sees them; a reading client on the node is served on", async () => {
    // The first test's client watches the event through its own slow link: it would take the fan-out
    // too (and be closed for it), so it leaves first; the node's sockets are then this test's two.
    await Promise.all(clients.splice(0).map((c) => new Promise<void>((r) => c.socket.disconnect(() => r(), 1000, "test done"))));
    const l = await link();
    const slow = new RawPhx(phxUrl(l.port));
    const reader = new RawPhx(phxUrl(world.cluster.nodes[0]!.port));
    await Promise.all([slow.opened(), reader.opened()]);
    const topic = `seats:${eventId}`;
    await reader.join(topic); // legacy, like the slow one: every change is a frame; over loopback it keeps up
    const closesBefore = await slowConsumerCloses();
    const overBefore = await joinRepliesOverBound();
    const sampler = await sampleSendBuffer();
    const ref = slow.ref();
    slow.send([ref, ref, topic, "phx_join", {}]);
    await expect.poll(joinRepliesOverBound, { timeout: 30_000, message: "the reply never waited in uWS's buffer above the bound" }).toBe(overBefore + 1);
    // While the reply drains, seats change faster than the link carries (a few MB/s of ~100-byte
    // frames against its 500 KB/s): reserved one by one, each a frame published to every legacy
    // watcher. Stops once the joiner is closed (or after FANOUT_MAX, ~6 MB).
    const FANOUT_MAX = 60_000;
    let changed = 0;
    let slowClosed = false;
    let paused = false;
    const t0 = Date.now();
    for (let next = 10; changed < 2 * FANOUT_MAX && !slowClosed; ) {
      // On a loaded machine the changes may come no faster than the link carries them, and nothing
      // piles up: past FANOUT_MAX the joiner stops reading for a while, so they pile up anyway.
      if (changed >= FANOUT_MAX && !paused) {
        l.stop();
        paused = true;
      }
      const batch = Array.from({ length: 500 }, () => `S_${next++}`);
      await Promise.all(batch.map((seatId) => world.cluster.seats.setSeatState({ eventId, seatId, action: "reserve" })));
      changed += batch.length;
      slowClosed = (await slowConsumerCloses()) > closesBefore;
    }
    const fanoutMs = Date.now() - t0;
    await expect.poll(slowConsumerCloses, { timeout: 20_000 }).toBe(closesBefore + 1);
    if (paused) l.go();
    const peak = sampler.peak();
    const kept = sampler.keptPeak();
    sampler.stop();
    // The reading client got every change and is served on.
    const last = `S_${9 + changed}`;
    const lastFrame = await reader.waitFor((f) => f[3] === "reserved" && f[4].seat === last, `the reserve of ${last}`, 30_000);
    const frameBytes = Buffer.byteLength(JSON.stringify(lastFrame));
    expect((await reader.heartbeat()).status).toBe("ok");
    // The joiner reads what was buffered, then the close.
    const { code } = await slow.closed(60_000);
    expect(code).toBe(4408);
    const replyBytes = Buffer.byteLength(slow.raw.find((f) => f.startsWith(`["${ref}","${ref}"`)) ?? "");
    expect(replyBytes).toBeGreaterThan(2 * bound());
    const changesBehind = slow.raw.filter((f) => f.includes('"reserved"')).length;
    reader.close();
    console.log(
      `fan-out behind a draining ${replyBytes}-byte snapshot: ${changed} changes of ~${frameBytes} bytes in ${fanoutMs} ms${paused ? " (the joiner paused its reading past " + FANOUT_MAX + ")" : ""}; ` +
        `closed 4408 after ${changesBehind} queued behind the reply; node's send buffer: most let stand ${kept} bytes ` +
        `(reply + bound ${replyBytes + bound()}), peak ${peak} at the sweep that closed it`,
    );
    // Changes did queue behind the reply, and the node never let the buffer stand above the reply
    // and the bound (the allowance is the lowest level since the reply plus the bound): the first
    // sample above it closed the joiner. Whether that sample is recorded above every earlier one
    // depends on how far the client had read and when the sweep ran, so the peak is printed, not asserted.
    expect(changesBehind).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(replyBytes + bound());
  }, 120_000);
});
