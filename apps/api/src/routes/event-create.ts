import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { bearerSecurity, errorResponses } from "../schemas/common.ts";
import { CreateEventBody, EventView } from "../schemas/event.ts";
import { checkNewEvent } from "../services/create-event.ts";
import { toEventView } from "../services/event-views.ts";

/** A 100000-seat map is several megabytes of JSON; Fastify's 1 MiB default would refuse it. */
const CREATE_EVENT_BODY_LIMIT = 32 * 1024 * 1024;

/** `POST /api/events`: an admin creates an event with its seat map and its (inactive) chat room. */
export const eventCreateRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    "/api/events",
    {
      bodyLimit: CREATE_EVENT_BODY_LIMIT,
      onRequest: app.requireRole("admin"),
      schema: {
        tags: ["events"],
        summary: "Create an event with its seats (admin)",
        description:
          "Stores the event, its seats and its chat room (status inactive) in one transaction. " +
          "Times are ISO-8601 or `YYYY-MM-DD HH:MM:SS` (UTC); prices are in major units with at most 2 decimals. " +
          "With `waiting_room` the sale goes through a waiting room: it needs `sales_open_at` and must open before it; " +
          "the server makes the draw's secret seed and publishes its commitment (SHA-256) in the answer, the seed only after the draw.",
        security: bearerSecurity,
        body: CreateEventBody,
        response: { 201: EventView, ...errorResponses(401, 403, 422) },
      },
    },
    async (request, reply) => {
      const saved = await app.events.create(checkNewEvent(request.body), request.user?.userId);
      return reply.code(201).send(toEventView(saved, app.deps.config));
    },
  );
};
