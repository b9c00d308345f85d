import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { archivedMessages, findOrCreateRoom } from "@seatdrop/chat";
import { notFound } from "../errors.ts";
import { bearerSecurity, errorResponses, IdParams } from "../schemas/common.ts";
import { ArchiveQuery, ArchiveResponse } from "../schemas/chat.ts";

/** What admins may see of a room that members may not: its archive, once the event ended. */
export const chatAdminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.deps.db.db;

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
