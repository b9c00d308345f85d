import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { eq } from "drizzle-orm";
import { events, seatAudit, type WaitingRoomRecord } from "@seatdrop/db";
import { ApiError, notFound } from "../errors.ts";
import { currentUser } from "../plugins/auth.ts";
import { bearerSecurity, errorResponses, IdParams } from "../schemas/common.ts";
import { WaitingRoomControlBody, WaitingRoomDrawView, WaitingRoomStatusView } from "../schemas/waiting-room.ts";
import { RoomReads } from "../services/waiting-room-reads.ts";

/** The answer for an event that is unknown or has no room: which of the two, in the message. */
function noRoom(why: "no_event" | "no_room"): ApiError {
  return why === "no_event" ? notFound("event") : new ApiError(404, "not_found", "this event has no waiting room");
}

/** Clients and shared caches may keep a draw briefly; it does not change once made. */
const DRAW_CACHE_CONTROL = "public, max-age=10, must-revalidate";

/**
 * The waiting room's routes: its public status and draw (no sign-in, as the seat map),
 * and the operator's control of admission (admin). The room itself is joined on the ws-nodes
 * (topic `queue:<event>`); its settings are part of the event (`waiting_room` of POST and PATCH
 * /api/events).
 */
export const waitingRoomRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.deps.db.db;
  const rooms = app.rooms;
  const reads = new RoomReads(rooms, db);

  app.get(
    "/api/events/:id/waiting_room",
    {
      schema: {
        tags: ["waiting-room"],
        summary: "An event's waiting room: its state, the queue, admissions",
        description:
          "Public. `state` is not_open before `opens_at`, pre_queue until the draw at `sales_open_at`, then running (or sold_out), closed from `sales_close_at`. " +
          "`commitment` is SHA-256 of the draw's seed, published before anyone joined; `seed` stays null until the draw. " +
          "Figures are at most a second old. 404 `not_found` when the event is unknown or has no waiting room (the message says which).",
        params: IdParams,
        response: { 200: WaitingRoomStatusView, ...errorResponses(404, 422) },
      },
    },
    async (request) => {
      const eventId = request.params.id.toLowerCase();
      const status = await reads.status(eventId);
      if (status) return status;
      const room = await reads.roomOf(eventId);
      throw typeof room === "string" ? noRoom(room) : notFound("waiting room");
    },
  );

  app.get(
    "/api/events/:id/waiting_room/draw",
    {
      schema: {
        tags: ["waiting-room"],
        summary: "The waiting room's published draw: the seed and every entrant's key in queue order",
        description:
          "Public, from the draw on (at `sales_open_at`). Check it: SHA-256 of the seed's UTF-8 bytes (hex) is the `commitment` published before the pre-queue opened; " +
          "your key is HMAC-SHA256(key = seed, message = your user id), hex; `keys` are ascending, so your place in the draw is your key's index + 1. " +
          "409 `not_drawn` before the draw; 404 `not_found` when the event is unknown or has no waiting room. Sent with a strong `ETag` (304 on `If-None-Match`).",
        params: IdParams,
        headers: Type.Object({ "if-none-match": Type.Optional(Type.String({ description: "an ETag of an earlier answer" })) }),
        response: { 200: WaitingRoomDrawView, 304: Type.Null({ description: "Not modified: the ETag in If-None-Match is current" }), ...errorResponses(404, 409, 422) },
      },
    },
    async (request, reply) => {
      const eventId = request.params.id.toLowerCase();
      const draw = await reads.draw(eventId);
      if (!draw) {
        const room = await reads.roomOf(eventId);
        if (typeof room === "string") throw noRoom(room);
        const at = room.salesOpenAt ? ` (the draw is made at sales_open_at, ${room.salesOpenAt.toISOString()})` : "";
        throw new ApiError(409, "not_drawn", `the waiting room has not been drawn yet${at}`);
      }
      reply.header("etag", draw.etag).header("cache-control", DRAW_CACHE_CONTROL);
      if (request.headers["if-none-match"]?.split(",").some((t) => t.trim().replace(/^W\//, "") === draw.etag)) return reply.code(304).send(null);
      // Encoded once per process (up to 100,000 keys); a string body is sent as is.
      return reply.type("application/json; charset=utf-8").send(draw.body as unknown as WaitingRoomDrawView);
    },
  );

  app.post(
    "/api/ops/events/:id/waiting_room",
    {
      onRequest: app.requireRole("admin"),
      schema: {
        tags: ["ops"],
        summary: "Pause or resume a waiting room's admission, or change its cap (admin)",
        description:
          "`paused: true` lets nobody new in (turns already running go on), `false` resumes; `max_active` caps the buyers shopping at once (`null`: no cap). " +
          "Written to the event's `waiting_room` in PostgreSQL, then into the room's Redis meta, which the node ticking the room reads every tick: " +
          "it applies on the next tick whichever node holds the room. Audited in `seat_audit` as `queue_paused`, `queue_resumed`, `queue_max_active` with who did it. " +
          "Answers the room's status as it is now. 404 `not_found` when the event is unknown or has no waiting room.",
        security: bearerSecurity,
        params: IdParams,
        body: WaitingRoomControlBody,
        response: { 200: WaitingRoomStatusView, ...errorResponses(401, 403, 404, 422) },
      },
    },
    async (request) => {
      const eventId = request.params.id.toLowerCase();
      const actor = `user:${currentUser(request).userId}`;
      const { paused, max_active: maxActive } = request.body;
      // PostgreSQL first (the system of record, which a Redis that lost the room reloads from), under
      // the row's lock so an event update of the room cannot interleave; then the Redis meta. A crash
      // in between leaves Redis behind until the next call; repeating the call is harmless.
      const outcome = await db.transaction(async (tx) => {
        const [row] = await tx.select({ room: events.waitingRoom }).from(events).where(eq(events.id, eventId)).limit(1).for("update");
        if (!row) return "no_event" as const;
        if (!row.room) return "no_room" as const;
        const before = row.room;
        const next: WaitingRoomRecord = { ...before };
        const audit: { action: string; detail: Record<string, unknown> }[] = [];
        if (paused !== undefined) {
          next.paused = paused;
          audit.push({ action: paused ? "queue_paused" : "queue_resumed", detail: { was_paused: before.paused === true } });
        }
        if (maxActive !== undefined) {
          next.max_active = maxActive;
          audit.push({ action: "queue_max_active", detail: { from: before.max_active ?? null, to: maxActive } });
        }
        await tx.update(events).set({ waitingRoom: next, updatedAt: new Date() }).where(eq(events.id, eventId));
        await tx.insert(seatAudit).values(audit.map((a) => ({ eventId, seatId: null, orderId: null, action: a.action, actor, detail: a.detail })));
        return "ok" as const;
      });
      if (outcome !== "ok") throw noRoom(outcome);
      await rooms.update(eventId);
      const status = await reads.fresh(eventId);
      if (!status) throw noRoom("no_room"); // removed or deleted in between
      return status;
    },
  );
};
