import { seatAudit, type Db } from "@seatdrop/db";

type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/**
 * Writes the audit trail of an order transition, one row per seat, in the caller's transaction, so
 * an operator can answer "what happened to seat A_12" after the fact.
 */
export async function audit(
  tx: Tx | Db,
  o: { eventId: string; orderId: string | null; seatIds: string[]; action: string; actor: string; detail?: Record<string, unknown> },
): Promise<void> {
  if (o.seatIds.length === 0) return;
  await tx.insert(seatAudit).values(o.seatIds.map((seatId) => ({ eventId: o.eventId, seatId, orderId: o.orderId, action: o.action, actor: o.actor, detail: o.detail ?? null })));
}

export type { Tx };
