import { metrics } from "@seatdrop/observability";
import type { OrdersContext } from "./context.ts";

/**
 * Queues a rebuild of the event's live seat map from PostgreSQL. Never throws: the caller has
 * already decided its answer (the order transition stands in PostgreSQL), and the once-a-minute
 * reconciliation repairs the map even when this request is lost. But a lost request is logged and
 * counted (`sdc_seat_rebuild_requests_failed_total`), never swallowed: until the reconciliation runs,
 * watchers may see a seat in the wrong state.
 */
export async function requestRebuild(ctx: OrdersContext, eventId: string, why: string): Promise<void> {
  if (!ctx.jobs) return;
  try {
    await ctx.jobs.requestRebuild(eventId);
  } catch (err) {
    metrics.seatRebuildRequestsFailed.inc();
    ctx.logger.error({ err, eventId, why }, "could not queue a seat-map rebuild; the reconciliation (every minute) will repair it");
  }
}
