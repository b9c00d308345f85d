import type { Logger } from "@seatdrop/observability";
import type { SeatService } from "@seatdrop/seats";
import type { LocalRegistry } from "./registry.ts";

/**
 * Vouches for every locally connected user, so holds of users who are still here are never
 * abandoned: each user with a socket on this node is marked live for `windowMs` (WS_LIVE_WINDOW_MS),
 * refreshed every third of it, so a failed refresh or two leave the mark standing. A node that dies
 * stops refreshing, and its users' holds are abandoned a grace after the mark runs out.
 */
export function startLiveness(o: { seats: SeatService; registry: LocalRegistry; nodeId: string; windowMs: number; logger: Logger }): { stop(): void } {
  const timer = setInterval(() => {
    for (const [eventId, users] of o.registry.liveUsers())
      o.seats.markLive(eventId, o.nodeId, users, o.windowMs).catch((err: unknown) => o.logger.warn({ err, eventId }, "liveness refresh failed"));
  }, o.windowMs / 3);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
