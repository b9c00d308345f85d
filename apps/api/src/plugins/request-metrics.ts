import fp from "fastify-plugin";
import { metrics } from "@seatdrop/observability";

/**
 * Counts every answered request by route pattern and status. The pattern (`/api/events/:id`), not
 * the URL, keeps the label set bounded whatever ids clients send.
 */
export const requestMetricsPlugin = fp(
  async (app) => {
    app.addHook("onResponse", async (request, reply) => {
      metrics.httpRequests.inc({ route: request.routeOptions.url ?? "unmatched", status: String(reply.statusCode) });
    });
  },
  { name: "request-metrics", fastify: "5.x" },
);
