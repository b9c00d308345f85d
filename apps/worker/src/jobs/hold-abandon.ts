import type { Job } from "bullmq";
import { holdAbandonJob } from "@seatdrop/jobs";
import type { SeatService } from "@seatdrop/seats";

/** Releases a hold whose user has had no live connection for the grace period; a user who came back keeps it. */
export async function handleHoldAbandon(seats: SeatService, job: Job): Promise<unknown> {
  const d = holdAbandonJob.schema.parse(job.data);
  return seats.holds.releaseHold({ eventId: d.eventId, userId: d.userId, mode: "abandoned" });
}
