import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { metricsAuthorized, metricsContentType, metricsText } from "@seatdrop/observability";

/** Prometheus scrape endpoint (prom-client text format), behind `Authorization: Bearer <METRICS_TOKEN>`. */
export const metricsRoutes: FastifyPluginAsyncTypebox<{ token: string }> = async (app, opts) => {
  app.get(
    "/metrics",
    {
      schema: {
        tags: ["ops"],
        summary: "Prometheus metrics (needs `Authorization: Bearer <METRICS_TOKEN>`)",
        produces: ["text/plain"],
        response: {
          200: Type.String({ description: "Prometheus text exposition format" }),
          401: Type.Object({ error: Type.String(), message: Type.String() }),
        },
      },
    },
    async (request, reply) => {
      if (!metricsAuthorized(request.headers.authorization, opts.token))
        return reply.code(401).header("www-authenticate", "Bearer").send({ error: "unauthorized", message: "metrics need Authorization: Bearer <METRICS_TOKEN>" });
      const body = await metricsText("api");
      // A string with a non-JSON content type is sent as is, not through the JSON serialiser.
      return reply.type(metricsContentType).send(body);
    },
  );
};
