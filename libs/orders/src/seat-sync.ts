import type { BackendAction } from "@seatdrop/seats";
import { SeatError } from "@seatdrop/seats";
import type { OrdersContext } from "./context.ts";
import { requestRebuild } from "./request-rebuild.ts";

/**
 * After PostgreSQL committed an order transition, moves its seats in Redis (so every watcher hears
 * it, with `seq`). Each move is fenced by the order id. PostgreSQL is the record: when the live map
 * disagrees (the seat is no longer this order's) or Redis cannot be reached, the event is queued for
 * a rebuild from PostgreSQL instead of failing a transition that already happened.
 */
export async function syncSeats(
  ctx: OrdersContext,
  o: { eventId: string; orderId: string; userId: string; seatIds: string[]; action: BackendAction; why: string },
): Promise<void> {
  let failed = false;
  for (const seatId of o.seatIds) {
    try {
      await ctx.seats.setSeatState({ eventId: o.eventId, seatId, action: o.action, orderId: o.orderId, userId: o.userId, why: o.why });
    } catch (err) {
      if (err instanceof SeatError) {
        // The live map disagrees with the record (a rebuild raced us, or Redis lost data): rebuild it.
        failed = true;
        ctx.logger.warn({ eventId: o.eventId, seatId, orderId: o.orderId, reason: err.reason, action: o.action }, "live seat map disagreed with the order; queueing a rebuild");
      } else {
        failed = true;
        ctx.logger.error({ err, eventId: o.eventId, seatId, orderId: o.orderId }, "could not update the live seat map");
      }
    }
  }
  if (failed) await requestRebuild(ctx, o.eventId, "seat move after commit failed");
}
