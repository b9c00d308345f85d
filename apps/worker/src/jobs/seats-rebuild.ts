import type { Job } from "bullmq";
import { seatsRebuildJob } from "@seatdrop/jobs";
import { rebuildSeats, type OrdersContext } from "@seatdrop/orders";

/** On demand (API `POST /api/admin/rebuild-seats`): reserved and paid seats in Redis from PostgreSQL. */
export async function handleSeatsRebuild(ctx: OrdersContext, job: Job): Promise<unknown> {
  const d = seatsRebuildJob.schema.parse(job.data);
  return rebuildSeats(ctx, d.eventId);
}
