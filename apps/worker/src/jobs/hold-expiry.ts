import type { Job } from "bullmq";
import { holdExpiryJob } from "@seatdrop/jobs";
import type { SeatService } from "@seatdrop/seats";

/** Releases a hold at its deadline. The script re-checks the deadline, so a stale job (the hold was extended) does nothing. */
export async function handleHoldExpiry(seats: SeatService, job: Job): Promise<unknown> {
  const d = holdExpiryJob.schema.parse(job.data);
  return seats.releaseHold({ eventId: d.eventId, userId: d.userId, mode: "expired" });
}
