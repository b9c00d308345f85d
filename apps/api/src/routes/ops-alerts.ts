import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { metricsAuthorized } from "@seatdrop/observability";
import { errorResponses } from "../schemas/common.ts";
import { recordAlerts } from "../services/ops-alerts.ts";

const WebhookAlert = Type.Object(
  {
    status: Type.Union([Type.Literal("firing"), Type.Literal("resolved")]),
    fingerprint: Type.String({ minLength: 1, maxLength: 64 }),
    labels: Type.Record(Type.String(), Type.String()),
    annotations: Type.Record(Type.String(), Type.String()),
    startsAt: Type.String(),
  },
  { additionalProperties: true },
);

/**
 * `POST /api/ops/alerts`: Alertmanager's webhook receiver (deploy/alertmanager/alertmanager.yml), so
 * alerts reach the ops page every operator already has open, whatever else they are routed to. It
 * takes the same bearer token as `/metrics` (METRICS_TOKEN: Alertmanager reads it from the file
 * make-secrets.sh writes beside its configuration).
 */
export const opsAlertRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config, redis, keys } = app.deps;
  app.post(
    "/api/ops/alerts",
    {
      schema: {
        tags: ["ops"],
        summary: "Alertmanager's webhook: firing and resolved alerts for the ops page (needs `Authorization: Bearer <METRICS_TOKEN>`)",
        body: Type.Object({ alerts: Type.Array(WebhookAlert, { maxItems: 1000 }) }, { additionalProperties: true }),
        response: { 200: Type.Object({ firing: Type.Integer(), resolved: Type.Integer() }), ...errorResponses(401, 422) },
      },
    },
    async (request, reply) => {
      if (!metricsAuthorized(request.headers.authorization, config.METRICS_TOKEN))
        return reply.code(401).header("www-authenticate", "Bearer").send({ error: "unauthorized", message: "alerts need Authorization: Bearer <METRICS_TOKEN>" });
      return recordAlerts(redis, keys, request.body.alerts);
    },
  );
};
