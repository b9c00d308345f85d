import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { desc, eq } from "drizzle-orm";
import { orders as ordersTable } from "@seatdrop/db";
import { OrderError, closePendingOrder, createOrder, loadOrderView, refundOrder } from "@seatdrop/orders";
import type { OrderView as OrderViewData } from "@seatdrop/orders";
import { currentUser } from "../plugins/auth.ts";
import { ApiError } from "../errors.ts";
import { bearerSecurity, errorResponses, IdParams } from "../schemas/common.ts";
import { CreateOrderBody, OrderList, OrderView } from "../schemas/order.ts";

/** An OrderError becomes the API's error shape; the field goes into `errors` for a 422. */
export function toApiError(e: OrderError): ApiError {
  if (e.status === 422 && e.field) return new ApiError(422, e.code, e.message, { errors: [{ field: e.field, message: e.message }] });
  return new ApiError(e.status, e.code, e.message, e.field ? { field: e.field } : {});
}
export async function mapped<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw e instanceof OrderError ? toApiError(e) : e;
  }
}

/** How long past the deadline a COMMIT already sent may take to answer before the outcome is called unknown. */
const COMMIT_WAIT_MS = 10_000;

/** Resolves with the work's outcome, or `{done: false}` after `ms` (aborting `ac`); the work's rejection passes through. */
export async function raceTimer<T>(work: Promise<T>, ms: number, ac: AbortController): Promise<{ done: true; value: T } | { done: false }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ done: false }>((resolve) => {
    timer = setTimeout(() => {
      ac.abort();
      resolve({ done: false });
    }, ms);
  });
  try {
    return await Promise.race([work.then((value) => ({ done: true as const, value })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs an order write under a deadline (docs/reliability.md, round one, finding 13). Past it the
 * write is aborted: every later step of it refuses to go on, and its transaction cannot commit (see
 * createOrder), so the 503 the client gets is the truth. Only a COMMIT already on its way is waited
 * for, bounded; if PostgreSQL does not answer it either, the outcome is honestly unknown.
 */
async function withOrderDeadline(
  ms: number,
  run: (o: { deadlineAt: number; signal: AbortSignal; onCommit: () => void }) => Promise<OrderViewData>,
): Promise<OrderViewData> {
  const ac = new AbortController();
  let committing = false;
  const work = run({ deadlineAt: Date.now() + ms, signal: ac.signal, onCommit: () => (committing = true) });
  work.catch(() => {}); // it may settle after we answered; its failure was already handled there
  const first = await raceTimer(work, ms, ac);
  if (first.done) return first.value;
  if (!committing) throw new ApiError(503, "database_unavailable", "orders cannot be written right now; nothing was created, retry shortly");
  const second = await raceTimer(work, COMMIT_WAIT_MS, new AbortController());
  if (second.done) return second.value;
  throw new ApiError(503, "order_outcome_unknown", "the database stopped answering while committing your order: check GET /api/users/me/orders before retrying");
}

/**
 * Orders (the original seat server's reserve and pay, over HTTP): a hold becomes a pending order,
 * which is paid (webhook), canceled, expired or refunded. Every write accepts an Idempotency-Key,
 * because webhooks and client retries arrive twice.
 */
export const orderRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const ctx = app.orders;

  app.post(
    "/api/orders",
    {
      onRequest: app.authenticate,
      config: { idempotent: true },
      schema: {
        tags: ["orders"],
        summary: "Turn your hold (or some of its seats) into a pending order",
        security: bearerSecurity,
        body: CreateOrderBody,
        description:
          "503 `database_unavailable` (with Retry-After) when the order cannot be written within ORDER_DEADLINE_MS: nothing was created, and nothing will be later. " +
          "503 `order_outcome_unknown` only if PostgreSQL went away while committing: check GET /api/users/me/orders.",
        response: { 201: OrderView, ...errorResponses(401, 404, 409, 422, 503) },
      },
    },
    async (request, reply) => {
      const user = currentUser(request);
      const order = await withOrderDeadline(ctx.config.ORDER_DEADLINE_MS, (o) =>
        mapped(createOrder(ctx, { userId: user.userId, eventId: request.body.event_id.toLowerCase(), seatIds: request.body.seats, ...o })),
      );
      return reply.code(201).send(order);
    },
  );

  app.get(
    "/api/orders/:id",
    {
      onRequest: app.authenticate,
      schema: { tags: ["orders"], summary: "One of your orders", security: bearerSecurity, params: IdParams, response: { 200: OrderView, ...errorResponses(401, 403, 404, 422) } },
    },
    async (request) => {
      const user = currentUser(request);
      const order = await loadOrderView(ctx.db, request.params.id);
      if (!order) throw new ApiError(404, "not_found", "no such order");
      if (order.user_id !== user.userId && user.role === "user") throw new ApiError(403, "forbidden", "this order is not yours");
      return order;
    },
  );

  app.get(
    "/api/users/me/orders",
    {
      onRequest: app.authenticate,
      schema: { tags: ["orders"], summary: "Your orders, newest first", security: bearerSecurity, response: { 200: OrderList, ...errorResponses(401) } },
    },
    async (request) => {
      const user = currentUser(request);
      const rows = await ctx.db.select({ id: ordersTable.id }).from(ordersTable).where(eq(ordersTable.userId, user.userId)).orderBy(desc(ordersTable.insertedAt)).limit(200);
      const views = await Promise.all(rows.map((r) => loadOrderView(ctx.db, r.id)));
      return { orders: views.filter((v) => v !== null) };
    },
  );

  app.post(
    "/api/orders/:id/cancel",
    {
      onRequest: app.authenticate,
      config: { idempotent: true },
      schema: { tags: ["orders"], summary: "Cancel your pending order; its seats become available", security: bearerSecurity, params: IdParams, response: { 200: OrderView, ...errorResponses(401, 403, 404, 409, 422) } },
    },
    async (request) => {
      const user = currentUser(request);
      const r = await mapped(closePendingOrder(ctx, { orderId: request.params.id, to: "canceled", requester: { userId: user.userId, role: user.role } }));
      return r.order;
    },
  );

  app.post(
    "/api/orders/:id/refund",
    {
      onRequest: app.requireRole("admin", "service"),
      config: { idempotent: true },
      schema: { tags: ["orders"], summary: "Refund a paid order: tickets void, seats unpaid", security: bearerSecurity, params: IdParams, response: { 200: OrderView, ...errorResponses(401, 403, 404, 409, 422) } },
    },
    async (request) => {
      const user = currentUser(request);
      return mapped(refundOrder(ctx, { orderId: request.params.id, requester: { userId: user.userId, role: user.role } }));
    },
  );
};
