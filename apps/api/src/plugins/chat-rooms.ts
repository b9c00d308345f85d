import fp from "fastify-plugin";
import { ChatBus, roomSchedule, syncRoom, type RoomLifecycleDeps, type RoomSchedule } from "@seatdrop/chat";
import { RoomJobs } from "@seatdrop/jobs";

/** How the API keeps chat rooms in step with their events. */
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

export const chatRoomsPlugin = fp(
  async (app) => {
    const { deps } = app;
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
    // Every event created, moved or deleted, on whichever route, reaches its room through the events service.
    app.events.onSaved((e) => api.reschedule(e.eventId, e.times, e.previous));
    app.events.onDeleted((e) => api.forget(e.eventId, e.times));
    app.addHook("onClose", async () => {
      await jobs.close();
    });
  },
  { name: "chat-rooms", dependencies: ["deps", "events"], fastify: "5.x" },
);
