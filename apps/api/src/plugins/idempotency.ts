import { createHash } from "node:crypto";
import { and, eq, isNull, lt } from "drizzle-orm";
import fp from "fastify-plugin";
import { dropError } from "@seatdrop/observability";
import { idempotencyKeys } from "@seatdrop/db";
import { ApiError } from "../errors.ts";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Write routes that honour an `Idempotency-Key` header. */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    idempotency: { scope: string; key: string } | null;
  }
}

const KEY_RE = /^[\x21-\x7e]{1,255}$/;
/** How long a first request may run before its key is considered abandoned. */
const ABANDONED_MS = 60_000;

/**
 * `Idempotency-Key` on write routes (config `idempotent: true`): the first request with a key runs
 * and its answer is stored; the same key with the same request replays that answer (header
 * `Idempotent-Replayed: true`); the same key with another request is 409 `idempotency_key_reused`;
 * a key whose first request is still running is 409 `idempotency_key_in_progress`. Keys are scoped
 * to the caller, so two users never see each other's answers. A 5xx is not stored: retrying it runs again.
 */
export const idempotencyPlugin = fp(
  async (app) => {
    const db = app.deps.db.db;
    app.decorateRequest("idempotency", null);

    app.addHook("preHandler", async (request, reply) => {
      if (!request.routeOptions.config.idempotent) return;
      const key = request.headers["idempotency-key"];
      if (key === undefined) return;
      if (typeof key !== "string" || !KEY_RE.test(key))
        throw new ApiError(422, "validation_failed", "Idempotency-Key must be 1 to 255 visible ASCII characters", {
          errors: [{ field: "Idempotency-Key", message: "must be 1 to 255 visible ASCII characters" }],
        });
      const scope = request.user?.userId ?? "anonymous";
      const route = `${request.method} ${request.routeOptions.url}`;
      const hash = createHash("sha256")
        .update(`${route}\n${JSON.stringify(request.params ?? {})}\n${JSON.stringify(request.body ?? null)}`)
        .digest("hex");
      const where = and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key));
      // A first request that never finished (its process died) would block the key forever: after
      // ABANDONED_MS its row is dropped and this request runs in its place.
      await db.delete(idempotencyKeys).where(and(where, isNull(idempotencyKeys.statusCode), lt(idempotencyKeys.insertedAt, new Date(Date.now() - ABANDONED_MS))));
      const [inserted] = await db.insert(idempotencyKeys).values({ scope, key, route, requestHash: hash }).onConflictDoNothing().returning();
      if (inserted) {
        request.idempotency = { scope, key };
        return;
      }
      const [prior] = await db.select().from(idempotencyKeys).where(where);
      if (prior && prior.statusCode === null)
        throw new ApiError(409, "idempotency_key_in_progress", "the first request with this Idempotency-Key is still running; retry shortly");
      if (!prior || prior.statusCode === null || prior.route !== route || prior.requestHash !== hash)
        throw new ApiError(409, "idempotency_key_reused", "this Idempotency-Key was used for a different request");
      return reply.code(prior.statusCode).header("idempotent-replayed", "true").send(prior.response);
    });

    app.addHook("onSend", async (request, reply, payload) => {
      const idem = request.idempotency;
      if (!idem) return payload;
      request.idempotency = null;
      const where = and(eq(idempotencyKeys.scope, idem.scope), eq(idempotencyKeys.key, idem.key));
      // A 5xx is often an outage: the answer must not wait on the database that failed it.
      // A failed release is logged and counted; the key then answers "in progress" until it expires.
      if (reply.statusCode >= 500) void db.delete(idempotencyKeys).where(where).catch(dropError("idempotency_release", app.deps.logger));
      else {
        let body: unknown = null;
        try {
          body = typeof payload === "string" ? JSON.parse(payload) : null;
        } catch {
          body = null;
        }
        await db.update(idempotencyKeys).set({ statusCode: reply.statusCode, response: body }).where(where);
      }
      return payload;
    });
  },
  { name: "idempotency", dependencies: ["deps"], fastify: "5.x" },
);
