import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { bearerSecurity, errorResponses } from "../schemas/common.ts";
import { SeatInput } from "../schemas/event.ts";
import { parseSeatMapCsv, SEAT_MAP_COLUMNS } from "../services/seat-map-csv.ts";

/** A 100,000-seat CSV is a few megabytes. */
const CSV_BODY_LIMIT = 16 * 1024 * 1024;

/**
 * `POST /api/seat_maps/csv` (admin): a box office's seat map as CSV → the `seats` of
 * `POST /api/events`, or a 422 naming each bad line and column. It stores nothing: the event is
 * created by `POST /api/events` with these seats (one transaction), so a bad file creates nothing.
 */
export const seatMapCsvRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addContentTypeParser("text/csv", { parseAs: "string", bodyLimit: CSV_BODY_LIMIT }, (_request, body, done) => done(null, body));
  app.post(
    "/api/seat_maps/csv",
    {
      bodyLimit: CSV_BODY_LIMIT,
      onRequest: app.requireRole("admin"),
      schema: {
        tags: ["events"],
        summary: "Read a seat map from CSV (admin; stores nothing)",
        description: `Content-Type: text/csv. A header row of ${SEAT_MAP_COLUMNS.join(", ")} (any order; price required; id, or row and number to make it from: <section>_<row>_<number>), one seat per line. Answers the seats for POST /api/events, or 422 naming each bad line and column.`,
        security: bearerSecurity,
        body: Type.String({ description: "the CSV text" }),
        response: { 200: Type.Object({ seats: Type.Array(SeatInput), count: Type.Integer(), sections: Type.Array(Type.String()) }), ...errorResponses(401, 403, 415, 422) },
      },
    },
    async (request) => {
      const seats = parseSeatMapCsv(request.body);
      return { seats, count: seats.length, sections: [...new Set(seats.map((s) => s.section).filter((s): s is string => s !== undefined))] };
    },
  );
};
