import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { notFound } from "../errors.ts";
import { errorResponses, IdParams } from "../schemas/common.ts";
import { EventLayoutView, EventListResponse, EventWithSeatsView, ListEventsQuery } from "../schemas/event.ts";
import { LayoutCache } from "../services/event-layout.ts";
import { toEventSummaryView, toEventWithSeatsView } from "../services/event-views.ts";
import { findEventWithSeats, listEvents } from "../services/read-events.ts";

/** Public reads of events: the seat-map page needs them before anyone signs in. */
export const eventReadRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const layouts = new LayoutCache(app.deps.db.db);
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

  app.get(
    "/api/events/:id/layout",
    {
      schema: {
        tags: ["events"],
        summary: "An event's layout: seat ids, sections, rows, numbers and prices, cacheable",
        description:
          "The static half of a seat map (issue 7). Seats joins with `changes` send only the seats that are not available; " +
          "this gives the rest. Answers with a strong `ETag` and `Cache-Control`; a request whose `If-None-Match` names the " +
          "current ETag gets 304 with no body.",
        params: IdParams,
        headers: Type.Object({ "if-none-match": Type.Optional(Type.String({ description: "an ETag of an earlier answer" })) }),
        response: {
          200: EventLayoutView,
          304: Type.Null({ description: "Not modified: the ETag in If-None-Match is current" }),
          ...errorResponses(404, 422),
        },
      },
    },
    async (request, reply) => {
      const layout = await layouts.get(request.params.id.toLowerCase());
      if (!layout) throw notFound("event");
      reply.header("etag", layout.etag).header("cache-control", LAYOUT_CACHE_CONTROL);
      if (etagMatches(request.headers["if-none-match"], layout.etag)) return reply.code(304).send(null);
      // A string body is sent as is; the typed reply only knows the schema's object shape.
      return reply.type("application/json; charset=utf-8").send(layout.body as unknown as EventLayoutView);
    },
  );
};

/**
 * A layout does not change once the event exists, so shared caches may keep it a while; after
 * that they revalidate with the ETag (a 304 sends no body; see LayoutCache for the server side).
 */
const LAYOUT_CACHE_CONTROL = "public, max-age=300, must-revalidate";

/** `If-None-Match` as RFC 9110 reads it: `*`, or a list of ETags (weak ones compared weakly). */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}
