import fp from "fastify-plugin";
import { eq } from "drizzle-orm";
import { ChatBus, roomSchedule, syncRoom, type RoomLifecycleDeps, type RoomSchedule } from "@seatdrop/chat";
import { events } from "@seatdrop/db";
import { RoomJobs } from "@seatdrop/jobs";

/** How the API keeps chat rooms in step with their events (issue 4). */
export interface ChatRoomsApi {
  lifecycle: RoomLifecycleDeps;
  jobs: RoomJobs;
  scheduleOf(event: { startTime: Date; endTime: Date }): RoomSchedule;
  /**
   * Schedules a room's activation and close for the event's (new) times, drops the jobs of its old
   * times, and puts the room right at once when the new times say it is due (moved into the past,
   * or later than an activation that already happened).
   */
  reschedule(eventId: string, times: { startTime: Date; endTime: Date }, previous?: { startTime: Date; endTime: Date }): Promise<void>;
  /** Tells a deleted event's room that it is gone and drops its jobs. */
  forget(eventId: string, times: { startTime: Date; endTime: Date }): Promise<void>;
}

declare module "fastify" {
  interface FastifyInstance {
    chatRooms: ChatRoomsApi;
  }
}

const chained = Symbol("chat-rooms-chained");

export const chatRoomsPlugin = fp(
  async (app) => {
    const { deps } = app;
    const log = deps.logger.child({ module: "chat-rooms" });
    const jobs = new RoomJobs(deps.redis, deps.keys.bullPrefix);
    const lifecycle: RoomLifecycleDeps = { db: deps.db.db, bus: new ChatBus(deps.redis, deps.keys), logger: deps.logger, activateBeforeMs: deps.config.CHAT_ACTIVATE_BEFORE_MS };
    const scheduleOf = (e: { startTime: Date; endTime: Date }) => roomSchedule(e, lifecycle.activateBeforeMs);

    const api: ChatRoomsApi = {
      lifecycle,
      jobs,
      scheduleOf,
      async reschedule(eventId, times, previous) {
        const next = scheduleOf(times);
        if (previous) {
          const old = scheduleOf(previous);
          if (old.activateAt.getTime() !== next.activateAt.getTime() || old.closeAt.getTime() !== next.closeAt.getTime())
            await jobs.unschedule({ eventId, ...old });
        }
        await jobs.schedule({ eventId, ...next });
        await syncRoom(lifecycle, eventId);
      },
      async forget(eventId, times) {
        await jobs.unschedule({ eventId, ...scheduleOf(times) });
        await lifecycle.bus.emit(eventId, { k: "status", status: "inactive", reason: "event_deleted" });
      },
    };
    app.decorate("chatRooms", api);

    // `POST /api/events` (event-create.ts) reports new events through deps.onEventSaved; chaining on
    // it gives those rooms their jobs too, without a second code path for creating events.
    // Chained once per deps object; an app built later on the same deps takes over the chain.
    const slot = deps as typeof deps & { [chained]?: ChatRoomsApi };
    if (!slot[chained]) {
      const previous = deps.onEventSaved;
      deps.onEventSaved = async (eventId) => {
        if (previous) await previous(eventId);
        const [e] = await deps.db.db.select({ startTime: events.startTime, endTime: events.endTime }).from(events).where(eq(events.id, eventId)).limit(1);
        if (e) await slot[chained]!.reschedule(eventId, e).catch((err: unknown) => log.error({ err, eventId }, "scheduling a new room failed"));
      };
    }
    slot[chained] = api;
    app.addHook("onClose", async () => {
      await jobs.close();
    });
  },
  { name: "chat-rooms", dependencies: ["deps"], fastify: "5.x" },
);
