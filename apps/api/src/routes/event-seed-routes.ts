import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { findOrCreateRoom } from "@seatdrop/chat";
import { ApiError, notFound } from "../errors.ts";
import { bearerSecurity, errorResponses, IdParams } from "../schemas/common.ts";
import { ChatRoomResponse, EventPatch, SeedChatRoomBody, SeedCreateEventBody, SeedUpdateEventBody } from "../schemas/chat.ts";
import { EventView } from "../schemas/event.ts";
import { checkNewEvent } from "../services/create-event.ts";
import { loadEvent } from "../services/event-update.ts";
import { toEventView } from "../services/event-views.ts";

/** The shared checks name fields as the REST bodies have them; the chat service's bodies put them under `event`. */
async function underEvent<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ApiError && err.extra.errors)
      throw new ApiError(err.status, err.code, `event.${err.message}`, { errors: err.extra.errors.map((e) => ({ ...e, field: `event.${e.field}` })) });
    throw err;
  }
}

/**
 * The chat service's bodies have no waiting room, and their schemas let unknown fields through unchecked:
 * a `waiting_room` in one is dropped here, never stored without the REST schema's checks.
 */
function withoutRoom<T extends object>(event: T): T {
  const { waiting_room: _dropped, ...rest } = event as T & { waiting_room?: unknown };
  return rest as T;
}

/**
 * The chat service's event routes, with the paths and bodies its clients send, beside their REST
 * equivalents (`PATCH /api/events/:id`, `DELETE /api/events/:id`, `GET /api/events/:id/chat_room`).
 * Writes need the admin role and go through the events service (plugins/events.ts), which moves
 * the chat room's schedule with every change of the times.
 */
export const eventSeedRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.deps.db.db;

  app.post(
    "/api/events/create_event",
    {
      onRequest: app.requireRole("admin"),
      schema: {
        tags: ["events"],
        summary: "Create an event and its chat room (chat service route, admin)",
        description:
          "The chat service's shape: `{\"event\": {name, description, location, start_time, end_time}}`, times as `YYYY-MM-DD HH:MM:SS` (UTC) or ISO-8601. " +
          "The event has no seat map; its chat room starts `inactive` and opens CHAT_ACTIVATE_BEFORE_MS before the start.",
        security: bearerSecurity,
        body: SeedCreateEventBody,
        response: { 201: EventView, ...errorResponses(401, 403, 422) },
      },
    },
    async (request, reply) => {
      const checked = await underEvent(async () => checkNewEvent({ ...withoutRoom(request.body.event), seats: [] }));
      const saved = await app.events.create(checked, request.user?.userId);
      // The room may have opened at once (an event starting within the activation lead): show it as stored.
      const fresh = await loadEvent({ db, eventId: saved.event.id });
      return reply.code(201).send(toEventView(fresh ?? saved, app.deps.config));
    },
  );

  const update = async (eventId: string, changes: EventPatch, by: string | undefined) => toEventView(await app.events.update(eventId, changes, by), app.deps.config);

  app.post(
    "/api/events/update_event",
    {
      onRequest: app.requireRole("admin"),
      schema: {
        tags: ["events"],
        summary: "Update an event (chat service route, admin)",
        description: "Any of name, description, location, start_time, end_time. New times move the chat room's activation and close.",
        security: bearerSecurity,
        body: SeedUpdateEventBody,
        response: { 200: EventView, ...errorResponses(401, 403, 404, 422) },
      },
    },
    async (request) => underEvent(() => update(request.body.id.toLowerCase(), withoutRoom(request.body.event), request.user?.userId)),
  );

  app.patch(
    "/api/events/:id",
    {
      onRequest: app.requireRole("admin"),
      schema: {
        tags: ["events"],
        summary: "Update an event (admin)",
        description:
          "REST form of `POST /api/events/update_event`: the body is the map of fields to change, and may also change the event's waiting room. " +
          "`waiting_room` adds a room (needs `opens_at`; the event must have `sales_open_at`, and the room must open before it), or changes the fields given " +
          "of the room the event has (its draw's seed, commitment and challenge never change; `opens_at` no longer once the room opened); `null` removes it, only before it opens. " +
          "Every ws-node follows a room's new settings within seconds.",
        security: bearerSecurity,
        params: IdParams,
        body: EventPatch,
        response: { 200: EventView, ...errorResponses(401, 403, 404, 422) },
      },
    },
    async (request) => update(request.params.id.toLowerCase(), request.body, request.user?.userId),
  );

  app.delete(
    "/api/events/:id",
    {
      onRequest: app.requireRole("admin"),
      schema: {
        tags: ["events"],
        summary: "Delete an event (chat service route, admin)",
        description: "Deletes the event with its seats, tickets, chat room, messages and notifications; archived messages are kept. 409 when it has orders.",
        security: bearerSecurity,
        params: IdParams,
        response: { 204: Type.Null({ description: "deleted" }), ...errorResponses(401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      // One spelling per event: Redis keys, channels and job ids are built from it (UUIDs are case-blind in PostgreSQL).
      const eventId = request.params.id.toLowerCase();
      await app.events.remove(eventId, request.user?.userId);
      return reply.code(204).send(null);
    },
  );

  await chatRoomReads(app);
};

/** An event's chat room, by the chat service's route and by its REST form. */
async function chatRoomReads(app: Parameters<FastifyPluginAsyncTypebox>[0]): Promise<void> {
  const db = app.deps.db.db;
  const chatRoomOf = async (eventId: string) => {
    const event = await loadEvent({ db, eventId });
    const room = event ? await findOrCreateRoom({ db, eventId }) : null;
    if (!event || !room) throw notFound("chat room");
    const s = app.chatRooms.scheduleOf(event.event);
    return { id: room.id, event_id: eventId, status: room.status, activates_at: s.activateAt.toISOString(), closes_at: s.closeAt.toISOString() };
  };

  app.post(
    "/api/events/get_chat_room_by_id",
    {
      schema: {
        tags: ["events"],
        summary: "The chat room of an event (chat service route)",
        body: SeedChatRoomBody,
        response: { 200: ChatRoomResponse, ...errorResponses(404, 422) },
      },
    },
    async (request) => chatRoomOf(request.body.event_id.toLowerCase()),
  );

  app.get(
    "/api/events/:id/chat_room",
    {
      schema: {
        tags: ["events"],
        summary: "The chat room of an event",
        params: IdParams,
        response: { 200: ChatRoomResponse, ...errorResponses(404, 422) },
      },
    },
    async (request) => chatRoomOf(request.params.id.toLowerCase()),
  );
}
