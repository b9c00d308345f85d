import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { notFound } from "../errors.ts";
import { errorResponses, IdParams } from "../schemas/common.ts";
import { EventListResponse, EventWithSeatsView, ListEventsQuery } from "../schemas/event.ts";
import { toEventSummaryView, toEventWithSeatsView } from "../services/event-views.ts";
import { findEventWithSeats, listEvents } from "../services/read-events.ts";

/** Public reads of events: the seat-map page needs them before anyone signs in. */
export const eventReadRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/api/events",
    {
      schema: {
        tags: ["events"],
        summary: "List events by start time",
        querystring: ListEventsQuery,
        response: { 200: EventListResponse, ...errorResponses(422) },
      },
    },
    async (request) => {
      const rows = await listEvents({ db: app.deps.db.db, limit: request.query.limit ?? 100, offset: request.query.offset ?? 0 });
      return { events: rows.map(toEventSummaryView) };
    },
  );

  app.get(
    "/api/events/:id",
    {
      schema: {
        tags: ["events"],
        summary: "An event with its seat map",
        params: IdParams,
        response: { 200: EventWithSeatsView, ...errorResponses(404, 422) },
      },
    },
    async (request) => {
      const found = await findEventWithSeats({ db: app.deps.db.db, eventId: request.params.id });
      if (!found) throw notFound("event");
      return toEventWithSeatsView(found, app.deps.config);
    },
  );
};
