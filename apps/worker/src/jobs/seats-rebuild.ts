import type { Job } from "bullmq";
import { seatsRebuildJob } from "@seatdrop/jobs";
import { rebuildSeats, type OrdersContext } from "@seatdrop/orders";

/**
 * Reserved and paid seats in Redis from PostgreSQL: on demand (API `POST /api/admin/rebuild-seats`,
 * an order whose seat move disagreed with Redis) and every minute for every current event (the
 * `seats-reconcile` Job Scheduler).
 */
export async function handleSeatsRebuild(ctx: OrdersContext, job: Job): Promise<unknown> {
  const d = seatsRebuildJob.schema.parse(job.data);
  return rebuildSeats(ctx, d.eventId);
}
