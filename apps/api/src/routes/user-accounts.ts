import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { currentUser } from "../plugins/auth.ts";
import { bearerSecurity, errorResponses } from "../schemas/common.ts";
import { SessionResponse, SignInBody, SignUpBody } from "../schemas/user.ts";
import { revokeToken } from "../services/revoke-token.ts";
import { authenticateUser, createUser, normaliseEmail, type UserRecord } from "../services/user-accounts.ts";

/** The chat service's sign-up, sign-in and sign-out, with the paths and bodies its clients send. */
export const userAccountRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const log = app.deps.logger.child({ module: "user-accounts" });
  const session = async (user: UserRecord) => ({
    user,
    token: await app.tokenSigner.sign({ sub: user.id, role: user.role, username: user.username }),
  });

  app.post(
    "/api/users/create",
    {
      schema: {
        tags: ["users"],
        summary: "Sign up",
        description: "Creates a user and returns it with a token. `password_hash` is the plaintext password; the server hashes it.",
        body: SignUpBody,
        response: { 201: SessionResponse, ...errorResponses(409, 422, 429) },
      },
    },
    async (request, reply) => {
      // Before the scrypt hash: a refused attempt costs one Redis call (docs/reliability.md, round
      // one, finding 5).
      await app.attemptLimits.consume("sign_up", { ip: request.ip });
      const { username, email, password_hash: password } = request.body.user_params;
      const user = await createUser({ db: app.deps.db.db, username, email, password });
      log.info({ userId: user.id }, "user signed up");
      return reply.code(201).send(await session(user));
    },
  );

  app.post(
    "/api/users/sign_in",
    {
      schema: {
        tags: ["users"],
        summary: "Sign in",
        body: SignInBody,
        description: "429 `rate_limited` (with Retry-After) past LIMIT_SIGN_INS_PER_IP attempts from one address, or LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT failures for one email from one address, per LIMIT_WINDOW_S; past that many failures of an email from all addresses, its sign-ins are slowed (up to 2 s), never refused.",
        response: { 200: SessionResponse, ...errorResponses(401, 422, 429) },
      },
    },
    async (request, reply) => {
      // Checked before the scrypt verify, so a flood of guesses is refused for the price of a Redis
      // call and cannot slow real sign-ins (docs/reliability.md, round one, finding 5: unchecked,
      // 12 parallel guesses made one take 481 ms).
      const account = normaliseEmail(request.body.email);
      // Every attempt counts up front (parallel guesses cannot all pass a check made before any of
      // them failed); a success clears the counts, so only failures accumulate. The hard limit is
      // per (account, address): a stranger's failures lock the stranger out, not the owner
      // (docs/reliability.md, round two, finding 7). Across addresses the account's failures only
      // slow its sign-ins down.
      const pair = `${account}|${request.ip}`;
      await app.attemptLimits.consume("sign_in", { ip: request.ip, user: pair });
      const delay = await app.attemptLimits.signInDelayMs(account);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      const user = await authenticateUser({ db: app.deps.db.db, email: request.body.email, password: request.body.password_hash });
      await Promise.all([app.attemptLimits.reset("sign_in", pair), app.attemptLimits.clearSignInDelay(account)]);
      return reply.code(200).send(await session(user));
    },
  );

  // The chat service's API lists sign-out without a path; POST and DELETE on /api/users/sign_out both work.
  app.route({
    method: ["POST", "DELETE"],
    url: "/api/users/sign_out",
    onRequest: app.authenticate,
    schema: {
      tags: ["users"],
      summary: "Sign out",
      description: "Revokes the presented token (until it would have expired) on every API and WebSocket node.",
      security: bearerSecurity,
      response: { 204: Type.Null({ description: "signed out" }), ...errorResponses(401) },
    },
    handler: async (request, reply) => {
      const user = currentUser(request);
      await revokeToken({ sessions: app.sessions, token: user });
      log.info({ userId: user.userId }, "user signed out");
      return reply.code(204).send(null);
    },
  });
};
