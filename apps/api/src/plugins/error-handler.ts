import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from "fastify";
import fp from "fastify-plugin";
import { AuthError } from "@seatdrop/auth";
import { RateLimitedError } from "@seatdrop/limits";
import { ApiError, validationFailed, type FieldError } from "../errors.ts";
import { isUnavailable } from "@seatdrop/orders";
import { foreignKeyViolation, isDataException } from "@seatdrop/db";
import { isRedisUnavailable } from "@seatdrop/redis";

/** What a 503 asks a client to wait before retrying, in seconds. */
const RETRY_AFTER_S = 2;

/** How many invalid fields a 422 lists; a huge body with one systematic mistake needs only the first few. */
const MAX_FIELD_ERRORS = 50;

/** Codes for Fastify's own 4xx errors (bad JSON, body too large, …), so clients see the same shape everywhere. */
const codeByStatus: Record<number, string> = {
  400: "bad_request",
  404: "not_found",
  405: "method_not_allowed",
  406: "not_acceptable",
  408: "request_timeout",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "too_many_requests",
};

/**
 * Every error answer is JSON `{"error": "<code>", "message": "..."}`. Schema validation failures are
 * 422 `validation_failed` with `errors: [{field, message}]` naming each field by its request path.
 */
export const errorHandlerPlugin = fp(
  async (app) => {
    const log = app.deps.logger.child({ module: "error-handler" });

    app.setErrorHandler(async (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      if (error.validation) {
        const e = validationFailed(toFieldErrors(error.validation, error.validationContext));
        return reply.code(e.status).send({ error: e.code, message: e.message, ...e.extra });
      }
      if (error instanceof ApiError) {
        if (error.status === 503) reply.header("retry-after", String(RETRY_AFTER_S));
        return reply.code(error.status).send({ error: error.code, message: error.message, ...error.extra });
      }
      if (error instanceof RateLimitedError)
        return reply
          .code(429)
          .header("retry-after", String(Math.ceil(error.retryAfterMs / 1000)))
          .send({ error: "rate_limited", message: error.message, retry_after_ms: error.retryAfterMs });
      if (error instanceof AuthError) return reply.code(401).send({ error: error.code, message: error.message });
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) return reply.code(status).send({ error: codeByStatus[status] ?? "bad_request", message: error.message });
      if (isUnavailable(error)) {
        // PostgreSQL unreachable or timing out: a retryable 503, not a 500 (docs/reliability.md,
        // round one, finding 13).
        log.warn({ err: error, method: request.method, url: request.url.split("?")[0], reqId: request.id }, "database unavailable");
        return reply.code(503).header("retry-after", String(RETRY_AFTER_S)).send({ error: "database_unavailable", message: "the database is not answering; retry shortly" });
      }
      if (isRedisUnavailable(error)) {
        // Redis unreachable (locks, holds, sessions, limits live there): an outage, retryable, not a 500.
        log.warn({ err: error, method: request.method, url: request.url.split("?")[0], reqId: request.id }, "redis unavailable");
        return reply.code(503).header("retry-after", String(RETRY_AFTER_S)).send({ error: "redis_unavailable", message: "the seat store is not answering; retry shortly" });
      }
      const refused = fromPostgres(error);
      if (refused) {
        // A value the schemas let through but PostgreSQL refused: the client's input, not our outage.
        // Logged (without the query's parameters) so the schema that should have caught it gets fixed.
        log.warn({ err: error, method: request.method, url: request.url.split("?")[0], reqId: request.id }, "input refused by PostgreSQL");
        return reply.code(refused.status).send({ error: refused.code, message: refused.message });
      }
      // The path only: a query string can carry what the client typed (emails, ticket numbers).
      log.error({ err: error, method: request.method, url: request.url.split("?")[0], reqId: request.id }, "request failed");
      return reply.code(500).send({ error: "internal_error", message: "something went wrong on our side; it has been logged" });
    });

    app.setNotFoundHandler(async (request, reply) =>
      reply.code(404).send({ error: "not_found", message: `no route ${request.method} ${request.url.split("?")[0]}` }),
    );
  },
  { name: "error-handler", dependencies: ["deps"], fastify: "5.x" },
);

/**
 * The safety net behind the schemas: PostgreSQL's data exceptions (class 22: a number out of range,
 * U+0000 in text, a malformed value) and foreign-key refusals (23503) are the client's input, so
 * they answer 422 `invalid_input` / 409 `conflict`, never 500 (docs/reliability.md, round one,
 * finding 7). Routes that expect one of these map it to a precise code themselves (e.g.
 * `user_has_orders`).
 */
function fromPostgres(error: unknown): ApiError | null {
  if (isDataException(error)) return new ApiError(422, "invalid_input", "a value in the request is out of range or not valid");
  if (foreignKeyViolation(error) !== null) return new ApiError(409, "conflict", "other records still refer to this one");
  return null;
}

/**
 * Turns validator errors into named fields: `/user_params/email` → `user_params.email`,
 * `/seats/3/id` → `seats[3].id`, a missing property → its own path. Params and query fields are
 * named bare (`id`, `limit`), as clients write them.
 */
export function toFieldErrors(validation: FastifySchemaValidationError[], context: string | undefined): FieldError[] {
  const byField = new Map<string, string>();
  for (const v of validation) {
    const base = pointerToPath(v.instancePath);
    const missing = missingProperties(v.params);
    const fields = missing.length > 0 ? missing.map((p) => joinPath(base, p)) : [base];
    for (const field of fields) {
      const name = field || context || "body";
      if (!byField.has(name)) byField.set(name, missing.length > 0 ? "is required" : (v.message ?? "is invalid"));
    }
    if (byField.size >= MAX_FIELD_ERRORS) break;
  }
  // A field inside an object that may also be null (`waiting_room.pow_bits` of a nullable room) fails
  // the union too, reported on the object as "must be null": name the field that is wrong, not that.
  const named = [...byField.keys()];
  const within = (outer: string, inner: string) => inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`);
  return [...byField]
    .filter(([field]) => !named.some((other) => within(field, other)))
    .slice(0, MAX_FIELD_ERRORS)
    .map(([field, message]) => ({ field, message }));
}

function pointerToPath(pointer: string): string {
  if (!pointer) return "";
  return pointer
    .split("/")
    .slice(1)
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((path, seg) => (/^\d+$/.test(seg) ? `${path}[${seg}]` : joinPath(path, seg)), "");
}

function joinPath(base: string, prop: string): string {
  return base ? `${base}.${prop}` : prop;
}

/** TypeBox reports `requiredProperties`, Ajv `missingProperty`; read both so the compiler can change. */
function missingProperties(params: unknown): string[] {
  const p = (params ?? {}) as { requiredProperties?: unknown; missingProperty?: unknown };
  if (Array.isArray(p.requiredProperties)) return p.requiredProperties.map(String);
  if (typeof p.missingProperty === "string") return [p.missingProperty];
  return [];
}
