import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { notFound } from "../errors.ts";
import { errorResponses, IdParams } from "../schemas/common.ts";
import { acceptsGzip, sendShared } from "../encoded-reply.ts";
import { EventLayoutView, EventListResponse, EventView, ListEventsQuery } from "../schemas/event.ts";
import { LayoutCache } from "../services/event-layout.ts";
import { toEventSummaryView, toEventView } from "../services/event-views.ts";
import { findEvent, listEvents } from "../services/read-events.ts";

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
        summary: "An event: its settings, seat count, chat room and waiting room",
        description:
          "Without the seats (with them, a 100,000-seat event's answer would be 9 MB, built anew for each anonymous " +
          "request): `GET /api/events/:id/layout` has them (cacheable), `GET /api/events/:id/seats` their live states.",
        params: IdParams,
        response: { 200: EventView, ...errorResponses(404, 422) },
      },
    },
    async (request) => {
      const found = await findEvent({ db: app.deps.db.db, eventId: request.params.id });
      if (!found) throw notFound("event");
      return toEventView(found, app.deps.config);
    },
  );

  app.get(
    "/api/events/:id/layout",
    {
      schema: {
        tags: ["events"],
        summary: "An event's layout: seat ids, sections, rows, numbers and prices, cacheable",
        description:
          "The static half of a seat map. Seats joins with `changes` send only the seats that are not available; " +
          "this gives the rest. Answers with a strong `ETag` and `Cache-Control`; a request whose `If-None-Match` names the " +
          "current ETag gets 304 with no body.",
        params: IdParams,
        headers: Type.Object({ "if-none-match": Type.Optional(Type.String({ description: "an ETag of an earlier answer" })) }),
        response: {
          200: EventLayoutView,
          304: Type.Null({ description: "Not modified: the ETag in If-None-Match is current" }),
          ...errorResponses(404, 422, 429),
        },
      },
    },
    async (request, reply) => {
      const layout = await layouts.get(request.params.id.toLowerCase());
      if (!layout) throw notFound("event");
      reply.header("cache-control", LAYOUT_CACHE_CONTROL);
      if (etagMatches(request.headers["if-none-match"], layout.etag)) return reply.header("etag", layout.etag).code(304).send(null);
      // Only a read that sends the body counts against the address's map reads (a 304 is free).
      await app.attemptLimits.consume("map_read", { ip: request.ip });
      // The gzip form is another representation of the same layout: its ETag is the weak one (as
      // nginx does), which If-None-Match still matches (compared weakly, above).
      const gz = acceptsGzip(request.headers["accept-encoding"]);
      reply.header("etag", gz ? `W/${layout.etag}` : layout.etag);
      return sendShared(request, reply, layout);
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
