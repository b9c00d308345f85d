import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { eq } from "drizzle-orm";
import { events, seatAudit } from "@seatdrop/db";
import { notFound } from "../errors.ts";
import { currentUser } from "../plugins/auth.ts";
import { bearerSecurity, errorResponses, Uuid } from "../schemas/common.ts";

const EventParams = Type.Object({ id: Uuid });
const HoldParams = Type.Object({ id: Uuid, user_id: Uuid });
const SalesState = Type.Object({ event_id: Uuid, sales_paused: Type.Boolean(), sales_paused_at: Type.Union([Type.String(), Type.Null()]) });
const Released = Type.Object({ event_id: Uuid, user_id: Uuid, reason: Type.Literal("released_by_admin"), seats: Type.Array(Type.String()) });

/**
 * The ops console's controls (admin only): freeze and reopen an event's sales, release one user's
 * hold. Each is recorded in `seat_audit` with the admin who did it (`actor` = `user:<id>`).
 */
export const opsControlRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.deps.db.db;
  const seats = app.orders.seats;

  /**
   * PostgreSQL first (the system of record, which a Redis that lost the event is reloaded from),
   * then the meta hash the scripts read. A crash in between leaves Redis behind until the next
   * call; repeating the call is harmless.
   */
  async function setPaused(eventId: string, paused: boolean, actor: string) {
    const at = paused ? new Date() : null;
    const row = await db.transaction(async (tx) => {
      const [r] = await tx.update(events).set({ salesPausedAt: at }).where(eq(events.id, eventId)).returning({ id: events.id });
      if (!r) return null;
      await tx.insert(seatAudit).values({ eventId, seatId: null, orderId: null, action: paused ? "sales_frozen" : "sales_reopened", actor });
      return r;
    });
    if (!row) throw notFound("event");
    await seats.events.setSalesPaused(eventId, paused);
    return { event_id: eventId, sales_paused: paused, sales_paused_at: at?.toISOString() ?? null };
  }

  const salesSchema = (summary: string, description: string) => ({
    tags: ["ops"],
    summary,
    description,
    security: bearerSecurity,
    params: EventParams,
    response: { 200: SalesState, ...errorResponses(401, 403, 404, 422) },
  });

  app.post(
    "/api/ops/events/:id/freeze",
    {
      onRequest: app.requireRole("admin"),
      schema: salesSchema(
        "Freeze an event's sales (admin)",
        "Every lock and order of the event is refused with `sales_paused` at once on every ws-node (the seat scripts read the flag). Holds are kept and keep their deadlines: a freeze longer than the hold TTL lets them expire. Kept in PostgreSQL (`sales_paused_at`), so a Redis reload keeps it. Audited as `sales_frozen`.",
      ),
    },
    async (request) => setPaused(request.params.id.toLowerCase(), true, `user:${currentUser(request).userId}`),
  );

  app.post(
    "/api/ops/events/:id/reopen",
    {
      onRequest: app.requireRole("admin"),
      schema: salesSchema("Reopen an event's sales (admin)", "Locks and orders are accepted again (within the event's sales window). Audited as `sales_reopened`."),
    },
    async (request) => setPaused(request.params.id.toLowerCase(), false, `user:${currentUser(request).userId}`),
  );

  app.post(
    "/api/ops/events/:id/holds/:user_id/release",
    {
      onRequest: app.requireRole("admin"),
      schema: {
        tags: ["ops"],
        summary: "Release one user's hold (admin)",
        description:
          "Releases every seat of the user's hold now; watchers see `unlocked` with reason `released_by_admin`, the owner hears `deleted` with that reason. Audited per seat as `hold_released_by_admin`. 404 `not_found` when the user has no hold on the event.",
        security: bearerSecurity,
        params: HoldParams,
        response: { 200: Released, ...errorResponses(401, 403, 404, 422) },
      },
    },
    async (request) => {
      const eventId = request.params.id.toLowerCase();
      const userId = request.params.user_id.toLowerCase();
      const { seats: released } = await seats.holds.releaseHoldByAdmin({ eventId, userId });
      if (released.length === 0) throw notFound("hold");
      const actor = `user:${currentUser(request).userId}`;
      await db.insert(seatAudit).values(released.map((seatId) => ({ eventId, seatId, orderId: null, action: "hold_released_by_admin", actor, detail: { user_id: userId } })));
      return { event_id: eventId, user_id: userId, reason: "released_by_admin" as const, seats: released };
    },
  );
};
