import { gt } from "drizzle-orm";
import { events, type Db } from "@seatdrop/db";
import type { SeatService } from "@seatdrop/seats";

/**
 * Hold expiry: releases the due holds of every event the cluster-wide index names as due.
 * A tick that finds the previous one still running (thousands of holds due at once) is skipped
 * rather than run twice beside it.
 */
export async function handleHoldSweep(seats: SeatService, guard: { running: boolean }): Promise<{ events: number; released: number } | { skipped: true }> {
  if (guard.running) return { skipped: true };
  guard.running = true;
  try {
    return await seats.holds.sweepDue();
  } finally {
    guard.running = false;
  }
}

/**
 * Abandoned holds (docs/reliability.md, round one, finding 9): every event with holds is walked,
 * and holds whose user no node has vouched for during the grace are released, so a node killed with
 * -9 does not keep its users' seats until their TTL.
 */
export async function handleHoldAbandonScan(seats: SeatService): Promise<{ events: number; released: number }> {
  const ids = await seats.holds.indexedEvents();
  let released = 0;
  for (const id of ids) released += await seats.holds.releaseAbandoned(id);
  return { events: ids.length, released };
}

/**
 * The net behind the cluster-wide index: every current event is loaded into Redis if missing and
 * its index entry lowered to its earliest hold (a node may have died between a lock and its index
 * write; Redis may have lost the index). Also sweeps each, as the old every-event sweep did.
 */
export async function handleHoldReindex(seats: SeatService, db: Db): Promise<{ events: number; released: number }> {
  const rows = await db.select({ id: events.id }).from(events).where(gt(events.endTime, new Date()));
  let released = 0;
  for (const r of rows) {
    if (!(await seats.events.ensureEventLoaded(r.id))) continue;
    released += (await seats.holds.sweep(r.id)).released;
    await seats.holds.reindex(r.id);
  }
  return { events: rows.length, released };
}
