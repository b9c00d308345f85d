import type { FastifyRequest, onRequestAsyncHookHandler } from "fastify";
import fp from "fastify-plugin";
import { eq } from "drizzle-orm";
import { SessionStore, bearerToken, createTokenSigner, createTokenVerifier, type Role, type TokenSigner, type VerifiedToken } from "@seatdrop/auth";
import { AttemptLimits } from "@seatdrop/limits";
import { users } from "@seatdrop/db";
import { isUuid } from "@seatdrop/protocol";
import { forbidden, unauthorized } from "../errors.ts";

declare module "fastify" {
  interface FastifyInstance {
    tokenSigner: TokenSigner;
    /** Cluster-wide attempt limits (sign-in, sign-up), shared with the ws-nodes through Redis. */
    attemptLimits: AttemptLimits;
    /** Where sessions end: sign-out, password change, account deletion (PostgreSQL, cached in Redis). */
    sessions: SessionStore;
    /**
     * onRequest hook: the request must carry a valid bearer token; sets `request.user`. It runs
     * before the body is parsed and validated, so strangers get a 401, never a 422 that describes
     * the route, and a multi-megabyte body from them is never parsed.
     */
    authenticate: onRequestAsyncHookHandler;
    /** onRequest hook: as `authenticate`, and the token's role must be one of `roles` (else 403). */
    requireRole(...roles: Role[]): onRequestAsyncHookHandler;
  }
  interface FastifyRequest {
    /** The verified bearer of the request's token; null until `authenticate` ran. */
    user: VerifiedToken | null;
  }
}

/**
 * Bearer-token authentication. Verification is libs/auth's (shared with the WebSocket nodes); this
 * plugin only reads the header and maps outcomes to HTTP: no token 401 `unauthorized`, a bad one
 * 401 `invalid_token` / `token_expired` / `token_revoked` (AuthError, see the error handler),
 * a wrong role 403 `forbidden`.
 */
export const authPlugin = fp(
  async (app) => {
    const { config, redis, keys } = app.deps;
    const sessions = new SessionStore({ db: app.deps.db.db, redis, keys, tokenLifetimeS: config.JWT_TTL_SECONDS, logger: app.deps.logger });
    // A token is refused once its session ended: signed out (its jti denied until it would have
    // expired anyway), issued before its user's password change, or its user deleted.
    const verifier = createTokenVerifier(config, { isEnded: (t) => sessions.isEnded(t, { localUser: t.local }) });

    const authenticate = async (request: FastifyRequest): Promise<void> => {
      const token = bearerToken(request.headers.authorization);
      if (!token) throw unauthorized();
      const user = await verifier.verify(token);
      // A token's `admin` claim is confirmed against the user's row (docs/reliability.md, round
      // two, finding 10: otherwise a token signed with the cluster's secret for a plain user with
      // `role: admin` could freeze an event). The record wins: no row, or another role there, and
      // the bearer acts with that role (or `user`).
      if (user.role === "admin") user.role = await recordedRole(user.userId);
      request.user = user;
    };
    const recordedRole = async (userId: string): Promise<Role> => {
      if (!isUuid(userId)) return "user";
      const [row] = await app.deps.db.db.select({ role: users.role }).from(users).where(eq(users.id, userId));
      return row?.role ?? "user";
    };

    app.decorateRequest("user", null);
    app.decorate("tokenSigner", createTokenSigner(config));
    const attemptLimits = new AttemptLimits({ redis, keys, config });
    app.decorate("attemptLimits", attemptLimits);
    app.addHook("onClose", async () => attemptLimits.close());
    app.decorate("sessions", sessions);
    app.decorate("authenticate", authenticate);
    app.decorate("requireRole", (...roles: Role[]): onRequestAsyncHookHandler => async (request) => {
      await authenticate(request);
      if (!request.user || !roles.includes(request.user.role)) throw forbidden(`this needs the role ${roles.join(" or ")}`);
    });
  },
  { name: "auth", dependencies: ["deps"], fastify: "5.x" },
);

/** The authenticated user of a request behind `authenticate`/`requireRole`; a 401 if there is none. */
export function currentUser(request: FastifyRequest): VerifiedToken {
  if (!request.user) throw unauthorized();
  return request.user;
}

/** As in the chat service: a user may act on their own account only (403 otherwise); admins may act on any. */
export function requireSelfOrAdmin(request: FastifyRequest, userId: string): VerifiedToken {
  const user = currentUser(request);
  if (user.role !== "admin" && user.userId.toLowerCase() !== userId.toLowerCase()) throw forbidden("this is not your account");
  return user;
}
