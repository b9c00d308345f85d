import { gt, sql } from "drizzle-orm";
import { events } from "@seatdrop/db";
import { roomSchedule, syncRoom, type RoomLifecycleDeps } from "@seatdrop/chat";
import type { RoomJobs } from "@seatdrop/jobs";

/**
 * The safety net behind the room jobs, every 30 s: finds the rooms whose status contradicts their
 * event's schedule (a job lost with Redis, a worker down at the time) and puts each right through
 * the same {@link syncRoom} the jobs use.
 */
export async function handleRoomReconcile(deps: RoomLifecycleDeps): Promise<{ rooms: number; failed: number }> {
  const now = new Date();
  const at = sql`${now.toISOString()}::timestamptz`;
  const lead = `${deps.activateBeforeMs} milliseconds`;
  const rows = await deps.db.execute<{ id: string }>(sql`
    select e.id from events e left join chat_rooms r on r.event_id = e.id
    where (e.end_time <= ${at} and (r.id is null or r.status = 'active' or r.archived_at is null or r.archived_at < e.end_time))
       or (e.end_time > ${at} and e.start_time - ${lead}::interval <= ${at} and (r.id is null or r.status = 'inactive'))
       or (e.start_time - ${lead}::interval > ${at} and r.status = 'active')
    limit 1000`);
  // One room that cannot be synced must not keep the others from being put right.
  let failed = 0;
  for (const r of rows) {
    try {
      await syncRoom(deps, r.id, now);
    } catch (err) {
      failed++;
      deps.logger.error({ err, eventId: r.id }, "room sync failed; the next reconcile retries it");
    }
  }
  return { rooms: rows.length, failed };
}

/**
 * At worker start: (re)schedules the jobs of every room whose event has not ended. Ids are
 * deterministic, so the jobs that survived in Redis are not duplicated; lost ones come back.
 */
export async function scheduleAllRooms(deps: RoomLifecycleDeps, jobs: RoomJobs): Promise<number> {
  const rows = await deps.db.select({ id: events.id, startTime: events.startTime, endTime: events.endTime }).from(events).where(gt(events.endTime, new Date()));
  for (const r of rows) await jobs.schedule({ eventId: r.id, ...roomSchedule(r, deps.activateBeforeMs) });
  return rows.length;
}
