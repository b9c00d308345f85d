import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from "fastify";
import fp from "fastify-plugin";
import { AuthError } from "@seatdrop/auth";
import { ApiError, validationFailed, type FieldError } from "../errors.ts";

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
      if (error instanceof ApiError) return reply.code(error.status).send({ error: error.code, message: error.message, ...error.extra });
      if (error instanceof AuthError) return reply.code(401).send({ error: error.code, message: error.message });
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) return reply.code(status).send({ error: codeByStatus[status] ?? "bad_request", message: error.message });
      log.error({ err: error, method: request.method, url: request.url, reqId: request.id }, "request failed");
      return reply.code(500).send({ error: "internal_error", message: "something went wrong on our side; it has been logged" });
    });

    app.setNotFoundHandler(async (request, reply) =>
      reply.code(404).send({ error: "not_found", message: `no route ${request.method} ${request.url.split("?")[0]}` }),
    );
  },
  { name: "error-handler", dependencies: ["deps"], fastify: "5.x" },
);

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
  return [...byField].slice(0, MAX_FIELD_ERRORS).map(([field, message]) => ({ field, message }));
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
