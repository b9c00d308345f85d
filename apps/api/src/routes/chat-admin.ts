import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { archivedMessages, ChatBus, findOrCreateRoom } from "@seatdrop/chat";
import { notFound } from "../errors.ts";
import { bearerSecurity, errorResponses, IdParams } from "../schemas/common.ts";
import { ArchiveQuery, ArchiveResponse, SlowModeBody, SlowModeResponse } from "../schemas/chat.ts";

/** What admins may see of a room that members may not (its archive), and the room's slow mode. */
export const chatAdminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.deps.db.db;
  const bus = new ChatBus(app.deps.redis, app.deps.keys);

  app.put(
    "/api/events/:id/chat_room/slow_mode",
    {
      onRequest: app.requireRole("admin"),
      schema: {
        tags: ["events"],
        summary: "Set a room's slow mode (admin)",
        description:
          "One message per member every `seconds` (0 turns it off). Enforced by the rate script every ws-node runs for every message, so it is live on every node at once; members hear `slow_mode` `{seconds}`. A member who must wait gets `rate_limited` with `retry_after_ms` and `slow_mode: true`. Kept in Redis only: a Redis flush turns it off.",
        security: bearerSecurity,
        params: IdParams,
        body: SlowModeBody,
        response: { 200: SlowModeResponse, ...errorResponses(401, 403, 404, 422) },
      },
    },
    async (request) => {
      const eventId = request.params.id.toLowerCase();
      const room = await findOrCreateRoom({ db, eventId });
      if (!room) throw notFound("chat room");
      await bus.setSlowMode(eventId, request.body.seconds);
      return { event_id: eventId, seconds: request.body.seconds };
    },
  );

  app.get(
    "/api/events/:id/chat_room/archive",
    {
      onRequest: app.requireRole("admin"),
      schema: {
        tags: ["events"],
        summary: "A room's archived messages, oldest first (admin)",
        description: "Messages move here when the event ends; they are never served to the room again. Page with `after` = the last id.",
        security: bearerSecurity,
        params: IdParams,
        querystring: ArchiveQuery,
        response: { 200: ArchiveResponse, ...errorResponses(401, 403, 404, 422) },
      },
    },
    async (request) => {
      const room = await findOrCreateRoom({ db, eventId: request.params.id.toLowerCase() });
      if (!room) throw notFound("chat room");
      const page = await archivedMessages({ db, roomId: room.id, limit: request.query.limit ?? 100, ...(request.query.after ? { after: request.query.after } : {}) });
      return { room: { id: room.id, status: room.status }, ...page };
    },
  );
};
