import { closeIfSlow } from "./conn.ts";
import type { LocalRegistry } from "./registry.ts";

/** How often the node looks for sockets whose send buffer passed WS_MAX_BACKPRESSURE. */
const SLOW_CONSUMER_SWEEP_MS = 1000;

/**
 * Closes every socket buffering more than it may with 4408 (`closeIfSlow`, conn.ts). Frames the node
 * sends itself are checked at each send; broadcasts are buffered by uWS, so only this sweep sees a
 * socket fall behind on them.
 */
export function startSlowConsumerSweep(registry: LocalRegistry): { stop(): void } {
  const timer = setInterval(() => {
    const now = Date.now();
    for (const c of registry.conns.values()) closeIfSlow(c, 0, now);
  }, SLOW_CONSUMER_SWEEP_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
