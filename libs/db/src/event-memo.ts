import { eq } from "drizzle-orm";
import type { Db } from "./client.ts";
import { events } from "./schema.ts";

/**
 * What a process keeps per event of the values built from its layout (seat ids, sections, rows,
 * prices: fixed once the event exists). A 100,000-seat layout is a 100,000-row read and seconds of
 * encoding, so an entry is kept while it is read, and only the event's existence is confirmed again
 * every `recheckMs` (one indexed row): a deleted event stops being served within that. Concurrent
 * first reads share one load; a missing event or a failed load is not kept (the next read asks
 * again). At most `max` events are kept, the least recently read dropped first.
 */
export class EventMemo<T> {
  private readonly entries = new Map<string, { checkedAt: number; value: Promise<T | null> }>();

  constructor(
    private readonly db: Db,
    private readonly o: { load: (eventId: string) => Promise<T | null>; recheckMs: number; max: number },
  ) {}

  get(eventId: string): Promise<T | null> {
    const now = Date.now();
    const hit = this.entries.get(eventId);
    if (hit) {
      this.entries.delete(eventId); // re-inserted below: Map order is the recency order
      this.entries.set(eventId, hit);
      if (now - hit.checkedAt >= this.o.recheckMs) {
        hit.checkedAt = now;
        hit.value = this.confirmed(eventId, hit.value);
        this.forgetIfEmpty(eventId, hit.value);
      }
      return hit.value;
    }
    const value = this.o.load(eventId);
    this.entries.set(eventId, { checkedAt: now, value });
    this.forgetIfEmpty(eventId, value);
    for (const id of this.entries.keys()) if (this.entries.size > this.o.max && id !== eventId) this.entries.delete(id);
    return value;
  }

  /**
   * The kept value while the event still exists. PostgreSQL unreachable: the kept value still (a
   * layout does not change, and a seat map that cannot confirm its event is better than none); the
   * next read past `recheckMs` asks again.
   */
  private async confirmed(eventId: string, kept: Promise<T | null>): Promise<T | null> {
    const exists = await this.db
      .select({ id: events.id })
      .from(events)
      .where(eq(events.id, eventId))
      .then((rows) => rows.length > 0)
      .catch(() => true); // see above: a failed check keeps serving, it does not fail the read
    return exists ? kept : null;
  }

  private forgetIfEmpty(eventId: string, value: Promise<T | null>): void {
    const forget = () => this.entries.get(eventId)?.value === value && this.entries.delete(eventId);
    value.then((v) => v === null && forget(), forget);
  }
}
