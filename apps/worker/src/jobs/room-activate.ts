import type { Job } from "bullmq";
import { eq } from "drizzle-orm";
import { roomSchedule, syncRoom, type RoomLifecycleDeps } from "@seatdrop/chat";
import { events } from "@seatdrop/db";
import { roomActivateJob, roomCloseJob } from "@seatdrop/jobs";

/**
 * Opens a room at its activation time (and notifies its ticket holders). A job whose time is no
 * longer the event's (the event moved) does nothing: the job for the new time does the work.
 */
export async function handleRoomActivate(deps: RoomLifecycleDeps, job: Job): Promise<unknown> {
  const d = roomActivateJob.schema.parse(job.data);
  return runIfCurrent(deps, d.eventId, (s) => s.activateAt.getTime() === d.at);
}

/** Closes a room at the event's end and archives its messages; stale jobs do nothing, as above. */
export async function handleRoomClose(deps: RoomLifecycleDeps, job: Job): Promise<unknown> {
  const d = roomCloseJob.schema.parse(job.data);
  return runIfCurrent(deps, d.eventId, (s) => s.closeAt.getTime() === d.at);
}

async function runIfCurrent(deps: RoomLifecycleDeps, eventId: string, current: (s: ReturnType<typeof roomSchedule>) => boolean) {
  const [event] = await deps.db.select({ startTime: events.startTime, endTime: events.endTime }).from(events).where(eq(events.id, eventId)).limit(1);
  if (!event) return { skipped: "unknown_event" };
  if (!current(roomSchedule(event, deps.activateBeforeMs))) return { skipped: "rescheduled" };
  return { transition: await syncRoom(deps, eventId) };
}
