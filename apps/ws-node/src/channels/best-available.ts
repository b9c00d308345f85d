import type { Conn } from "../conn.ts";
import type { NodeContext } from "../context.ts";
import { Refusal } from "./channel.ts";

/** What `best_available` asks for, as its schema reads it (bestAvailablePayload in libs/protocol). */
export interface BestAvailablePush {
  count: number;
  section?: string;
  maxPriceCents?: number;
}

/**
 * `best_available` on `seats:<eventId>` (docs/protocol.md): locks the best block of `count`
 * adjacent free seats into the caller's hold (SeatService.bestAvailable) and returns the reply's
 * body. The seat channel has already checked the sign-in, the payload and the waiting-room pass,
 * exactly as for `lock`. Throws SeatError (the lock refusals, or `no_block` with its `split`
 * offer) or a `malformed_payload` Refusal naming `section` for a section the event does not have.
 */
export async function bestAvailable(ctx: NodeContext, conn: Conn, eventId: string, p: BestAvailablePush): Promise<Record<string, unknown>> {
  if (p.section !== undefined) {
    const layout = await ctx.seats.layouts?.get(eventId);
    if (layout && !layout.sections.has(p.section))
      throw new Refusal({ reason: "malformed_payload", field: "section", message: `unknown section ${JSON.stringify(p.section)}; the event's sections are listed by GET /api/events/${eventId}/layout` });
  }
  const r = await ctx.seats.bestAvailable({ eventId, userId: conn.userId!, count: p.count, section: p.section, maxPriceCents: p.maxPriceCents, origin: conn.tag });
  return { seats: r.seats, expires_at: r.deadline, hold_size: r.holdSize, seq: r.seq };
}
