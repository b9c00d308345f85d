import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { metricsContentType, metricsText } from "@seatdrop/observability";

/** Prometheus scrape endpoint (prom-client text format). */
export const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/metrics",
    {
      schema: {
        tags: ["ops"],
        summary: "Prometheus metrics",
        produces: ["text/plain"],
        response: { 200: Type.String({ description: "Prometheus text exposition format" }) },
      },
    },
    async (_request, reply) => {
      const body = await metricsText();
      // A string with a non-JSON content type is sent as is, not through the JSON serialiser.
      return reply.type(metricsContentType).send(body);
    },
  );
};
