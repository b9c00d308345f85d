import fp from "fastify-plugin";
import type { EventPatch } from "../schemas/chat.ts";
import { createEvent, type NewEvent, type SavedEvent } from "../services/create-event.ts";
import { deleteEvent, loadEvent, updateEvent, type LoadedEvent } from "../services/event-update.ts";

/** An event's times, which the chat room's schedule follows. */
export interface EventTimes {
  startTime: Date;
  endTime: Date;
}

/** Told after an event was committed: created (no `previous`) or changed (`previous` = the times before). */
export interface EventSaved {
  eventId: string;
  times: EventTimes;
  previous?: EventTimes;
  /** An update's fields as the request named them (`waiting_room`, `start_time`, …); absent on creation. */
  changed?: (keyof EventPatch)[];
}

export interface EventDeleted {
  eventId: string;
  times: EventTimes;
}

type Listener<T> = (e: T) => Promise<void>;

/**
 * The one way the API creates, changes and deletes events. Whatever depends on an event (its chat
 * room's schedule, its seat map in Redis) listens here instead of each route calling it, so a new
 * route cannot forget one of them.
 */
export interface EventsService {
  create(event: NewEvent, by?: string): Promise<SavedEvent>;
  /** Applies a partial update; returns the event as stored afterwards. */
  update(eventId: string, changes: EventPatch, by?: string): Promise<LoadedEvent>;
  remove(eventId: string, by?: string): Promise<void>;
  onSaved(listener: Listener<EventSaved>): void;
  onDeleted(listener: Listener<EventDeleted>): void;
}

declare module "fastify" {
  interface FastifyInstance {
    events: EventsService;
  }
}

export const eventsPlugin = fp(
  async (app) => {
    const db = app.deps.db.db;
    const log = app.deps.logger.child({ module: "events" });
    const saved: Listener<EventSaved>[] = [];
    const deleted: Listener<EventDeleted>[] = [];

    // The change is committed when listeners run: a failing one must not become an error the client
    // retries (that would create the event twice). Each is logged; the worker's reconciles (rooms
    // every 30 s, seats on first use) catch up with whatever a listener could not do.
    const tell = async <T extends { eventId: string }>(listeners: Listener<T>[], e: T, what: string) => {
      for (const l of listeners) await l(e).catch((err: unknown) => log.error({ err, eventId: e.eventId }, `an event-${what} listener failed`));
    };

    const service: EventsService = {
      async create(event, by) {
        const s = await createEvent({ db, event });
        log.info({ eventId: s.event.id, seats: s.seatCount, by }, "event created");
        await tell(saved, { eventId: s.event.id, times: s.event }, "saved");
        return s;
      },
      async update(eventId, changes, by) {
        const r = await updateEvent({ db, eventId, changes });
        log.info({ eventId, by, fields: Object.keys(changes) }, "event updated");
        await tell(saved, { eventId, times: r.after.event, previous: r.before, changed: Object.keys(changes) as (keyof EventPatch)[] }, "saved");
        // Listeners may have changed the room (activated it): answer with what is stored now.
        return (await loadEvent({ db, eventId })) ?? r.after;
      },
      async remove(eventId, by) {
        const times = await deleteEvent({ db, eventId });
        log.info({ eventId, by }, "event deleted");
        await tell(deleted, { eventId, times }, "deleted");
      },
      onSaved: (l) => void saved.push(l),
      onDeleted: (l) => void deleted.push(l),
    };
    app.decorate("events", service);
  },
  { name: "events", dependencies: ["deps"], fastify: "5.x" },
);
