import { randomUUID } from "node:crypto";
import { and, eq, inArray, sql } from "drizzle-orm";
import { metrics } from "@seatdrop/observability";
import { events, orderItems, orders, seats as seatsTable, uniqueViolation } from "@seatdrop/db";
import { SeatError } from "@seatdrop/seats";
import { audit } from "./audit.ts";
import type { OrdersContext } from "./context.ts";
import { requestRebuild } from "./request-rebuild.ts";
import { OrderError } from "./order-error.ts";
import { loadOrderView, type OrderView } from "./order-view.ts";

/**
 * Turns the caller's hold (all of it, or the seats named) into a pending order.
 *
 * Order of steps, and why: first the ONE Redis script that checks the hold is alive and owns every
 * seat and moves them to `reserved` for this order id (so a hold that expired a millisecond earlier
 * cannot become an order, and an expiry racing us can no longer take the seats); then PostgreSQL
 * writes the order and its items in one transaction, where the partial unique index refuses any
 * seat that is already sold even if Redis was wrong. If that fails, the seats are released again,
 * fenced by the order id.
 */
export async function createOrder(
  ctx: OrdersContext,
  o: {
    userId: string;
    eventId: string;
    seatIds?: string[];
    /**
     * The order must be committed before this moment (epoch ms), or not at all: checked after every
     * wait, and inside the transaction against PostgreSQL's own clock right before COMMIT, whose
     * session also times out when it idles past it (docs/reliability.md, round one, finding 13:
     * otherwise orders are created seconds after their client has given up).
     */
    deadlineAt?: number;
    /** Aborted when the caller gave up (its own deadline): the order must not be created any more. */
    signal?: AbortSignal;
    /** Called when COMMIT is about to be sent: from then on the outcome is PostgreSQL's. */
    onCommit?: () => void;
  },
): Promise<OrderView> {
  o = { ...o, eventId: o.eventId.toLowerCase() }; // one spelling per event: Redis keys are built from it
  const late = () => o.signal?.aborted === true || (o.deadlineAt !== undefined && Date.now() >= o.deadlineAt);
  const [event] = await ctx.db.select().from(events).where(eq(events.id, o.eventId));
  if (late()) throw unavailable();
  if (!event) throw new OrderError(404, "not_found", "no such event", "event_id");
  const now = Date.now();
  if (event.salesOpenAt && now < event.salesOpenAt.getTime()) throw new OrderError(409, "sales_not_open", "sales for this event have not opened yet");
  if (event.salesCloseAt && now >= event.salesCloseAt.getTime()) throw new OrderError(409, "sales_closed", "sales for this event are closed");
  if (o.seatIds) {
    const seen = new Set<string>();
    o.seatIds.forEach((s, i) => {
      if (seen.has(s)) throw new OrderError(422, "validation_failed", `seat ${s} is named twice`, `seats[${i}]`);
      seen.add(s);
    });
  }

  const orderId = randomUUID();
  let reserved: string[];
  try {
    if (late()) throw unavailable();
    reserved = (await ctx.seats.reserveHold({ eventId: o.eventId, userId: o.userId, orderId, seatIds: o.seatIds })).seats;
  } catch (err) {
    if (err instanceof OrderError || !(err instanceof SeatError)) throw err;
    if (err.reason === "not_in_hold") {
      const i = o.seatIds?.indexOf(err.seat ?? "") ?? -1;
      throw new OrderError(409, "not_in_hold", `seat ${err.seat} is not in your hold (never locked by you, or your hold expired)`, i >= 0 ? `seats[${i}]` : "seats");
    }
    if (err.reason === "no_hold") throw new OrderError(409, "no_hold", "you have no live hold on this event: lock seats first (or your hold expired)");
    if (err.reason === "unknown_event") throw new OrderError(404, "not_found", "no such event", "event_id");
    throw new OrderError(409, err.reason, err.message);
  }

  const windowMs = event.paymentWindowMs ?? ctx.config.PAYMENT_WINDOW_MS;
  const expiresAt = new Date(Date.now() + windowMs);
  try {
    if (late()) throw unavailable();
    await ctx.db.transaction(async (tx) => {
      if (o.deadlineAt !== undefined) {
        // The session ends itself if this transaction stalls past the deadline (a network partition
        // between this process and PostgreSQL): PostgreSQL then rolls it back, whatever arrives later.
        const leftMs = Math.max(1, Math.ceil(o.deadlineAt - Date.now()));
        await tx.execute(sql.raw(`set local statement_timeout = ${leftMs}`));
        await tx.execute(sql.raw(`set local idle_in_transaction_session_timeout = ${leftMs}`));
      }
      const prices = await tx
        .select({ seatId: seatsTable.seatId, priceCents: seatsTable.priceCents })
        .from(seatsTable)
        .where(and(eq(seatsTable.eventId, o.eventId), inArray(seatsTable.seatId, reserved)));
      const total = prices.reduce((sum, p) => sum + p.priceCents, 0);
      await tx.insert(orders).values({ id: orderId, userId: o.userId, eventId: o.eventId, status: "pending", totalCents: total, currency: ctx.config.CURRENCY, expiresAt });
      await tx.insert(orderItems).values(prices.map((p) => ({ orderId, eventId: o.eventId, seatId: p.seatId, priceCents: p.priceCents })));
      await audit(tx, { eventId: o.eventId, orderId, seatIds: reserved, action: "reserved", actor: `user:${o.userId}` });
      if (o.deadlineAt !== undefined) {
        // The last word before COMMIT, on PostgreSQL's clock: a transaction that only got here after
        // the deadline (its statements were queued during an outage) rolls back.
        const [row] = await tx.execute<{ ok: boolean }>(sql`select clock_timestamp() < to_timestamp(${o.deadlineAt / 1000}) as ok`);
        if (!row?.ok || late()) throw unavailable();
      }
      o.onCommit?.();
    });
  } catch (err) {
    let leftBehind = false;
    for (const seatId of reserved) {
      await ctx.seats.setSeatState({ eventId: o.eventId, seatId, action: "unreserve", orderId, why: "order_failed" }).catch((e: unknown) => {
        leftBehind = true;
        ctx.logger.error({ err: e, seatId, orderId }, "could not release a seat of a failed order; the reconciliation will");
      });
    }
    if (leftBehind) await requestRebuild(ctx, o.eventId, "failed order left seats reserved");
    if (uniqueViolation(err) !== null) {
      // Redis let a sold seat be held: the record disagrees with the live map, which the rebuild repairs.
      await requestRebuild(ctx, o.eventId, "sold seat was held");
      throw new OrderError(409, "seat_sold", "one of the seats is already sold");
    }
    if (err instanceof OrderError || isUnavailable(err)) throw unavailable();
    throw err;
  }
  metrics.orders.inc({ state: "pending" });
  await ctx.jobs?.scheduleExpiry(orderId, expiresAt).catch((err: unknown) => ctx.logger.error({ err, orderId }, "could not schedule order expiry; the sweep will expire it"));
  return (await loadOrderView(ctx.db, orderId))!;
}

/** The order cannot be written now (PostgreSQL unreachable, or the deadline passed): nothing was created; retry. */
function unavailable(): OrderError {
  return new OrderError(503, "database_unavailable", "orders cannot be written right now; nothing was created, retry shortly");
}

/** Connection-level failures and timeouts of postgres.js / PostgreSQL (not a refusal of the data). */
export function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string") continue;
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|CONNECT_TIMEOUT|CONNECTION_CLOSED|CONNECTION_DESTROYED|CONNECTION_ENDED)$/.test(code)) return true;
    // 08: connection exception; 57P0x: server shutting down; 57014: statement timeout; 25P03: idle-in-transaction timeout.
    if (/^(08...|57P0.|57014|25P03)$/.test(code)) return true;
  }
  return false;
}
