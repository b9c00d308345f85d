import { gt } from "drizzle-orm";
import { events, type Db } from "@seatdrop/db";
import type { SeatService } from "@seatdrop/seats";

/**
 * The safety net behind the per-hold jobs: every event that has not ended gets its overdue holds
 * released. Jobs can run late or be lost (a Redis failover); this runs every couple of seconds.
 */
export async function handleHoldSweep(seats: SeatService, db: Db): Promise<{ events: number; released: number }> {
  const rows = await db.select({ id: events.id }).from(events).where(gt(events.endTime, new Date()));
  let released = 0;
  for (const r of rows) if (await seats.ensureEventLoaded(r.id)) released += await seats.sweep(r.id);
  return { events: rows.length, released };
}
