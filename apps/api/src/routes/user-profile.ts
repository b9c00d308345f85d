import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { currentUser, requireSelfOrAdmin } from "../plugins/auth.ts";
import { bearerSecurity, errorResponses, IdParams } from "../schemas/common.ts";
import { UpdateUserBody, UserResponse } from "../schemas/user.ts";
import { revokeToken } from "../services/revoke-token.ts";
import { deleteUser, getUser, updateUser } from "../services/user-profile.ts";

/**
 * Seed 003's show, update and delete of a user. 401 without a valid token, 403 when the id is not
 * the caller's own (admins may act on anyone), 404 when there is no such user.
 */
export const userProfileRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const log = app.deps.logger.child({ module: "user-profile" });

  app.get(
    "/api/users/:id",
    {
      onRequest: app.authenticate,
      schema: {
        tags: ["users"],
        summary: "Show a user",
        security: bearerSecurity,
        params: IdParams,
        response: { 200: UserResponse, ...errorResponses(401, 403, 404, 422) },
      },
    },
    async (request) => {
      requireSelfOrAdmin(request, request.params.id);
      return { user: await getUser({ db: app.deps.db.db, userId: request.params.id }) };
    },
  );

  app.post(
    "/api/users/update",
    {
      onRequest: app.authenticate,
      schema: {
        tags: ["users"],
        summary: "Update a user",
        description: "`user_params.password_hash` is the new plaintext password; the server hashes it.",
        security: bearerSecurity,
        body: UpdateUserBody,
        response: { 200: UserResponse, ...errorResponses(401, 403, 404, 409, 422) },
      },
    },
    async (request) => {
      const { id, user_params: p } = request.body;
      requireSelfOrAdmin(request, id);
      const changes: { username?: string; email?: string; password?: string } = {};
      if (p.username !== undefined) changes.username = p.username;
      if (p.email !== undefined) changes.email = p.email;
      if (p.password_hash !== undefined) changes.password = p.password_hash;
      const user = await updateUser({ db: app.deps.db.db, userId: id, changes });
      log.info({ userId: id, by: currentUser(request).userId, fields: Object.keys(changes) }, "user updated");
      return { user };
    },
  );

  // The seed's heading says /api/users/delete_user/:id and its example /api/users/delete/:id: serve both.
  for (const url of ["/api/users/delete_user/:id", "/api/users/delete/:id"]) {
    app.delete(
      url,
      {
        onRequest: app.authenticate,
        schema: {
          tags: ["users"],
          summary: "Delete a user",
          security: bearerSecurity,
          params: IdParams,
          description: "409 `user_has_orders`: orders are the sales record, so a buyer's account stays.",
          response: { 204: Type.Null({ description: "deleted" }), ...errorResponses(401, 403, 404, 409, 422) },
        },
      },
      async (request, reply) => {
        const caller = requireSelfOrAdmin(request, request.params.id);
        await deleteUser({ db: app.deps.db.db, userId: request.params.id });
        // A deleted account's own session ends with it.
        if (caller.userId === request.params.id) await revokeToken({ redis: app.deps.redis, keys: app.deps.keys, token: caller });
        log.info({ userId: request.params.id, by: caller.userId }, "user deleted");
        return reply.code(204).send(null);
      },
    );
  }
};
