import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { and, desc, eq, sql } from "drizzle-orm";
import { events, orderItems, orders, users } from "@seatdrop/db";
import { notFound } from "../errors.ts";
import { bearerSecurity, errorResponses, Uuid } from "../schemas/common.ts";

const OrderStatus = Type.Union([Type.Literal("pending"), Type.Literal("paid"), Type.Literal("canceled"), Type.Literal("expired"), Type.Literal("refunded")]);
const OpsOrder = Type.Object({
  id: Uuid,
  status: OrderStatus,
  user_id: Uuid,
  email: Type.String(),
  seats: Type.Array(Type.String()),
  total: Type.Number({ description: "in major units" }),
  currency: Type.String(),
  inserted_at: Type.String({ format: "date-time" }),
  paid_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
});
const OpsOrderList = Type.Object({ event_id: Uuid, orders: Type.Array(OpsOrder) });

/**
 * `GET /api/ops/events/:id/orders` (admin): an event's orders, newest first, with the buyer's email
 * and seats, for the ops console's orders list (its Refund calls `POST /api/orders/:id/refund`).
 */
export const opsOrderRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.deps.db.db;
  app.get(
    "/api/ops/events/:id/orders",
    {
      onRequest: app.requireRole("admin"),
      schema: {
        tags: ["ops"],
        summary: "An event's orders with the buyers' emails (admin)",
        security: bearerSecurity,
        params: Type.Object({ id: Uuid }),
        querystring: Type.Object({
          status: Type.Optional(OrderStatus),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100, description: "at most this many, newest first" })),
        }),
        response: { 200: OpsOrderList, ...errorResponses(401, 403, 404, 422) },
      },
    },
    async (request) => {
      const eventId = request.params.id.toLowerCase();
      const [event] = await db.select({ id: events.id }).from(events).where(eq(events.id, eventId));
      if (!event) throw notFound("event");
      const rows = await db
        .select({
          id: orders.id,
          status: orders.status,
          userId: orders.userId,
          email: users.email,
          totalCents: orders.totalCents,
          currency: orders.currency,
          insertedAt: orders.insertedAt,
          paidAt: orders.paidAt,
          seats: sql<string[]>`coalesce(array_agg(${orderItems.seatId} order by ${orderItems.seatId}) filter (where ${orderItems.seatId} is not null), '{}')`,
        })
        .from(orders)
        .innerJoin(users, eq(users.id, orders.userId))
        .leftJoin(orderItems, eq(orderItems.orderId, orders.id))
        .where(and(eq(orders.eventId, eventId), request.query.status ? eq(orders.status, request.query.status) : undefined))
        .groupBy(orders.id, users.email)
        .orderBy(desc(orders.insertedAt))
        .limit(request.query.limit ?? 100);
      return {
        event_id: eventId,
        orders: rows.map((o) => ({
          id: o.id,
          status: o.status,
          user_id: o.userId,
          email: o.email,
          seats: o.seats,
          total: o.totalCents / 100,
          currency: o.currency,
          inserted_at: o.insertedAt.toISOString(),
          paid_at: o.paidAt?.toISOString() ?? null,
        })),
      };
    },
  );
};
