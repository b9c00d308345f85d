import { Type, type Static } from "typebox";

/**
 * Schemas shared by every route. Each is plain JSON Schema: Fastify validates with it, serialises
 * responses with it, and @fastify/swagger writes the OpenAPI document from it.
 */

/** The body of every error answer (`{"error": "<code>", "message": "..."}`). */
export const ErrorResponse = Type.Object(
  {
    error: Type.String({ description: "machine-readable code, e.g. validation_failed, conflict, not_found" }),
    message: Type.String({ description: "what went wrong, for humans" }),
    field: Type.Optional(Type.String({ description: "the field a conflict is about" })),
    retry_after_ms: Type.Optional(Type.Integer({ description: "429 rate_limited: how long to wait before the next attempt" })),
    errors: Type.Optional(
      Type.Array(Type.Object({ field: Type.String(), message: Type.String() }), { description: "every invalid field (422 only)" }),
    ),
  },
  { title: "ErrorResponse", description: "Every error has this shape." },
);
export type ErrorResponse = Static<typeof ErrorResponse>;

/** A route's error answers, keyed by status, for its `response` schema. */
export function errorResponses<S extends number>(...statuses: S[]): Record<S, typeof ErrorResponse> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorResponse])) as Record<S, typeof ErrorResponse>;
}

/**
 * A page offset. Bounded so a huge value is a 422 naming the field, not a 500 from PostgreSQL's
 * bigint (`?offset=99999999999999999999`: docs/reliability.md, round one, finding 7).
 */
export const Offset = Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0, description: "rows to skip (at most 2147483647)" });

/** Lower-case or upper-case UUID of any version, as PostgreSQL's uuid type accepts. */
export const Uuid = Type.String({ format: "uuid", description: "UUID" });

export const IdParams = Type.Object({ id: Uuid });
export type IdParams = Static<typeof IdParams>;

/** Security requirement of routes behind a bearer token, for the OpenAPI document. */
export const bearerSecurity = [{ bearerAuth: [] }];
