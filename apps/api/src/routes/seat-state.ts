import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { SeatMapCache } from "@seatdrop/orders";
import { Type } from "typebox";
import { sendShared } from "../encoded-reply.ts";
import { ApiError } from "../errors.ts";
import { bearerSecurity, errorResponses, IdParams } from "../schemas/common.ts";
import { RebuildBody, SeatMapResponse } from "../schemas/order.ts";
import { mapped, raceTimer } from "./orders.ts";

/** The seat map with live states, for readers without a socket, and the admin's rebuild of seat state from PostgreSQL. */
export const seatStateRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const ctx = app.orders;
  const seatMaps = new SeatMapCache(ctx);

  app.get(
    "/api/events/:id/seats",
    { schema: { tags: ["events"], summary: "The seat map with each seat's live state", params: IdParams, response: { 200: SeatMapResponse, ...errorResponses(404, 422, 429, 503) } } },
    // A read: past its deadline it simply answers 503 (with Retry-After); nothing is left to fence.
    // The body is encoded once per (event, seq) and shared, gzipped for clients that accept it
    // (SeatMapCache; docs/reliability.md, round two, finding 2), and each read counts against
    // LIMIT_MAP_READS_PER_IP.
    async (request, reply) => {
      await app.attemptLimits.consume("map_read", { ip: request.ip });
      const ac = new AbortController();
      const r = await raceTimer(mapped(seatMaps.get(request.params.id)), ctx.config.ORDER_DEADLINE_MS, ac);
      if (!r.done) throw new ApiError(503, "database_unavailable", "the seat map cannot be read right now; retry shortly");
      return sendShared(request, reply, r.value);
    },
  );

  app.post(
    "/api/admin/rebuild-seats",
    {
      onRequest: app.requireRole("admin", "service"),
      schema: {
        tags: ["admin"],
        summary: "Ask the worker to rebuild reserved and paid seats in Redis from PostgreSQL",
        security: bearerSecurity,
        body: RebuildBody,
        response: { 202: Type.Object({ job_id: Type.String() }), ...errorResponses(401, 403, 422, 503) },
      },
    },
    async (request, reply) => {
      if (!ctx.jobs) throw new ApiError(503, "unavailable", "no job queue is configured");
      const jobId = await ctx.jobs.requestRebuild(request.body.event_id?.toLowerCase());
      return reply.code(202).send({ job_id: jobId });
    },
  );
};
