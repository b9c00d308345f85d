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
 * `keptPeak()` leaves out each level the node answered with a slow-consumer close (4408) right
 * away: it is the most the node let a buffer hold, where `peak()` also counts what uWS took of
 * broadcasts between two slow-consumer sweeps before the sweep that closed for it.
 */
export async function sampleSendBuffer(): Promise<{ peak(): number; keptPeak(): number; stop(): void }> {
  const base = await sendBufferBytes();
  const g = metrics.wsSendBufferBytes;
  const inc = vi.spyOn(g, "inc");
  const dec = vi.spyOn(g, "dec");
  const drop = vi.spyOn(metrics.wsBackpressureDrops, "inc");
  const changes = (spy: typeof inc, sign: number) => spy.mock.calls.map((args, i) => ({ order: spy.mock.invocationCallOrder[i]!, by: sign * (args[0] as number) }));
  const levels = () => {
    const closes = drop.mock.invocationCallOrder.map((order) => ({ order, by: null }));
    const all: { order: number; by: number | null }[] = [...changes(inc, 1), ...changes(dec, -1), ...closes].sort((a, b) => a.order - b.order);
    let level = base;
    let last: { order: number; by: number | null } | undefined;
    const out: { level: number; closed: boolean }[] = [{ level, closed: false }];
    for (const c of all) {
      // A close right after a rise: the level just sampled made the node close.
      if (c.by === null) out[out.length - 1]!.closed ||= (last?.by ?? 0) > 0;
      else out.push({ level: (level += c.by), closed: false });
      last = c;
    }
    return out;
  };
  return {
    peak: () => Math.max(...levels().map((l) => l.level)),
    keptPeak: () => Math.max(...levels().filter((l) => !l.closed).map((l) => l.level)),
    stop() {
      inc.mockRestore();
      dec.mockRestore();
      drop.mockRestore();
    },
  };
}
