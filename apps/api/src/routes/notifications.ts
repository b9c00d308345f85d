import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { listNotifications, markNotificationRead } from "@seatdrop/chat";
import { notFound } from "../errors.ts";
import { currentUser } from "../plugins/auth.ts";
import { bearerSecurity, errorResponses, IdParams } from "../schemas/common.ts";
import { NotificationListResponse, NotificationResponse, NotificationsQuery } from "../schemas/chat.ts";

/** The caller's stored notifications (a chat room opened, …): the same ones `user:<id>` pushes live. */
export const notificationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.deps.db.db;

  app.get(
    "/api/users/me/notifications",
    {
      onRequest: app.authenticate,
      schema: {
        tags: ["notifications"],
        summary: "My notifications, newest first",
        security: bearerSecurity,
        querystring: NotificationsQuery,
        response: { 200: NotificationListResponse, ...errorResponses(401, 422) },
      },
    },
    async (request) => {
      const { status, limit, offset } = request.query;
      const notifications = await listNotifications({ db, userId: currentUser(request).userId, limit: limit ?? 50, offset: offset ?? 0, ...(status ? { status } : {}) });
      return { notifications };
    },
  );

  app.post(
    "/api/notifications/:id/read",
    {
      onRequest: app.authenticate,
      schema: {
        tags: ["notifications"],
        summary: "Mark one of my notifications read",
        description: "Idempotent. Someone else's notification is a 404, exactly like a missing one.",
        security: bearerSecurity,
        params: IdParams,
        response: { 200: NotificationResponse, ...errorResponses(401, 404, 422) },
      },
    },
    async (request) => {
      const notification = await markNotificationRead({ db, userId: currentUser(request).userId, notificationId: request.params.id.toLowerCase() });
      if (!notification) throw notFound("notification");
      return { notification };
    },
  );
};
