import { gt } from "drizzle-orm";
import { events } from "@seatdrop/db";
import type { OrdersContext } from "./context.ts";

/**
 * Makes every current event's reserved and paid seats in Redis match PostgreSQL (on worker start,
 * and on demand through the API). Locks are not in PostgreSQL and simply start again empty when
 * Redis lost them.
 */
export async function rebuildSeats(ctx: OrdersContext, eventId?: string): Promise<{ events: number; changes: number }> {
  const ids = eventId ? [eventId] : (await ctx.db.select({ id: events.id }).from(events).where(gt(events.endTime, new Date()))).map((r) => r.id);
  let changes = 0;
  for (const id of ids) {
    if (!(await ctx.seats.events.ensureEventLoaded(id))) continue;
    changes += await ctx.seats.events.rebuildFromDb(id);
  }
  if (changes > 0) ctx.logger.warn({ events: ids.length, changes }, "live seat maps rebuilt from PostgreSQL");
  return { events: ids.length, changes };
}
