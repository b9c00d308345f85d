import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { currentUser, requireSelfOrAdmin } from "../plugins/auth.ts";
import { bearerSecurity, errorResponses, IdParams } from "../schemas/common.ts";
import { UpdateUserBody, UserResponse } from "../schemas/user.ts";
import { revokeToken } from "../services/revoke-token.ts";
import { deleteUser, getUser, updateUser } from "../services/user-profile.ts";

/**
 * The chat service's show, update and delete of a user. 401 without a valid token, 403 when the id is not
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
        description:
          "`user_params.password_hash` is the new plaintext password; the server hashes it, and every token of the user issued before is refused from then on " +
          "(the user changing their own password gets a fresh `token` in the answer).",
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
      const { user, tokensValidAfter } = await updateUser({ db: app.deps.db.db, userId: id, changes });
      log.info({ userId: id, by: currentUser(request).userId, fields: Object.keys(changes) }, "user updated");
      if (!tokensValidAfter) return { user };
      // A new password ends every session of the user, this one included (docs/reliability.md,
      // round one, finding 3); the user changing their own password gets a fresh token so they stay
      // signed in here.
      await app.sessions.endAllSessions(user.id, tokensValidAfter);
      if (currentUser(request).userId !== user.id) return { user };
      return { user, token: await app.tokenSigner.sign({ sub: user.id, role: user.role, username: user.username }) };
    },
  );

  // The chat service's API heading says /api/users/delete_user/:id and its example /api/users/delete/:id: serve both.
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
        // Every session of a deleted account ends with it, on every node (docs/reliability.md,
        // round one, finding 3: otherwise a deleted user's token still opens sockets and locks
        // seats).
        await app.sessions.endAllSessions(request.params.id.toLowerCase(), "gone");
        if (caller.userId === request.params.id) await revokeToken({ sessions: app.sessions, token: caller });
        log.info({ userId: request.params.id, by: caller.userId }, "user deleted");
        return reply.code(204).send(null);
      },
    );
  }
};
