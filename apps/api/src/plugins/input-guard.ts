import fp from "fastify-plugin";
import { validationFailed, type FieldError } from "../errors.ts";

/** How deep the guard walks a body; deeper bodies are refused by the route schemas anyway. */
const MAX_DEPTH = 32;

/**
 * Refuses U+0000 in any string of a request's params, query or body with a 422 naming the field.
 * PostgreSQL's text and jsonb cannot store it, so such input would be answered with a 500 (an email
 * at sign-in, a ticket number: docs/reliability.md, round one, finding 7); no route of this API has
 * a use for it.
 */
export const inputGuardPlugin = fp(
  async (app) => {
    app.addHook("preValidation", async (request) => {
      const errors: FieldError[] = [];
      findNul(request.params, "", errors, 0);
      findNul(request.query, "", errors, 0);
      findNul(request.body, "", errors, 0);
      if (errors.length > 0) throw validationFailed(errors);
    });
  },
  { name: "input-guard", fastify: "5.x" },
);

function findNul(value: unknown, path: string, errors: FieldError[], depth: number): void {
  if (errors.length >= 10 || depth > MAX_DEPTH) return;
  if (typeof value === "string") {
    if (value.includes("\u0000")) errors.push({ field: path || "body", message: "must not contain the NUL character (U+0000)" });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => findNul(v, `${path}[${i}]`, errors, depth + 1));
    return;
  }
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k.includes("\u0000")) errors.push({ field: path ? `${path}.${k.replace(/\u0000/g, "\\u0000")}` : k.replace(/\u0000/g, "\\u0000"), message: "a field name must not contain U+0000" });
      else findNul(v, path ? `${path}.${k}` : k, errors, depth + 1);
    }
  }
}
