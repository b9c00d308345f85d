import type { Logger } from "@seatdrop/observability";
import type { SeatService } from "@seatdrop/seats";
import type { LocalRegistry } from "./registry.ts";

/**
 * Each ws-node sweeps the expired holds of the events it watches, so an idle buyer's expired hold
 * is released within seconds even while the worker is down (docs/reliability.md, round one,
 * finding 15: otherwise it stays locked for everyone until the worker comes back, released on read
 * only when someone touches it). A per-event lease in Redis (sweepHolds-19.lua) lets one node do it
 * per interval; an event with nothing due costs each node one ZRANGEBYSCORE. The worker's
 * index-driven sweep stays the main path (it also covers events no node watches).
 */
export function startNodeHoldSweep(o: { seats: SeatService; registry: LocalRegistry; nodeId: string; everyMs: number; logger: Logger }): { stop(): void } {
  if (o.everyMs <= 0) return { stop() {} };
  const log = o.logger.child({ module: "node-hold-sweep" });
  // The lease ends a little before the next tick, so the node holding it may take it again.
  const lease = { owner: o.nodeId, ms: Math.max(50, Math.floor(o.everyMs * 0.8)) };
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      for (const eventId of [...o.registry.watchedEvents()]) {
        try {
          const r = await o.seats.sweep(eventId, { lease });
          if (r.released > 0) log.info({ eventId, released: r.released }, "expired holds released by this node");
        } catch (err) {
          log.warn({ err, eventId }, "hold sweep failed");
        }
      }
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), o.everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
