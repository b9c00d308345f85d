import { vi } from "vitest";
import { metrics } from "@seatdrop/observability";

/**
 * The node's `sdc_ws_send_buffer_bytes`: the bytes its open sockets hold in uWS's send buffers, as
 * sampled at each send and each slow-consumer sweep. The nodes of a test file run in its process,
 * so this is theirs (one node per file that reads it).
 */
export async function sendBufferBytes(): Promise<number> {
  return (await metrics.wsSendBufferBytes.get()).values[0]?.value ?? 0;
}

/** Join replies that left their socket's send buffer above WS_MAX_BACKPRESSURE so far. */
export async function joinRepliesOverBound(): Promise<number> {
  return (await metrics.wsJoinRepliesOverBound.get()).values[0]?.value ?? 0;
}

/** Sockets closed as slow consumers (4408) so far. */
export async function slowConsumerCloses(): Promise<number> {
  return (await metrics.wsBackpressureDrops.get()).values[0]?.value ?? 0;
}

/**
 * Records every change of `sdc_ws_send_buffer_bytes` from now on (spies that call through), so
 * `peak()` is the highest the gauge was at any of the node's samples, a send's included: polling
 * would miss a level that lasts one tick (a send that crosses the bound and the close it causes).
 */
export async function sampleSendBuffer(): Promise<{ peak(): number; stop(): void }> {
  const base = await sendBufferBytes();
  const g = metrics.wsSendBufferBytes;
  const inc = vi.spyOn(g, "inc");
  const dec = vi.spyOn(g, "dec");
  const changes = (spy: typeof inc, sign: number) => spy.mock.calls.map((args, i) => ({ order: spy.mock.invocationCallOrder[i]!, by: sign * (args[0] as number) }));
  return {
    peak() {
      let level = base;
      let peak = base;
      for (const c of [...changes(inc, 1), ...changes(dec, -1)].sort((a, b) => a.order - b.order)) peak = Math.max(peak, (level += c.by));
      return peak;
    },
    stop() {
      inc.mockRestore();
      dec.mockRestore();
    },
  };
}
