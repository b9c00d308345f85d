import fp from "fastify-plugin";
import { WaitingRooms } from "@seatdrop/queue";

declare module "fastify" {
  interface FastifyInstance {
    /** The events' waiting rooms (libs/queue): status, draw, settings into Redis. The ws-nodes tick them. */
    rooms: WaitingRooms;
  }
}

/**
 * Builds the one `WaitingRooms` of this process. Whatever changes a room's settings in PostgreSQL
 * (an event update naming `waiting_room`, the ops control) then calls `rooms.update`, which writes
 * them into the room's Redis meta that every node's tick reads; the nodes' own copies of the
 * settings are at most a few seconds old.
 */
export const waitingRoomsPlugin = fp(
  async (app) => {
    const { deps } = app;
    const seats = app.orders.seats;
    const rooms = new WaitingRooms({
      redis: deps.redis,
      keys: deps.keys,
      config: deps.config,
      logger: deps.logger,
      db: deps.db.db,
      ensureSeats: (eventId) => seats.events.ensureEventLoaded(eventId),
    });
    app.decorate("rooms", rooms);
    // On whichever route the room changed (PATCH /api/events/:id today).
    app.events.onSaved(async (e) => {
      if (e.changed?.includes("waiting_room")) await rooms.update(e.eventId);
    });
  },
  { name: "waiting-rooms", dependencies: ["deps", "events", "orders"], fastify: "5.x" },
);
