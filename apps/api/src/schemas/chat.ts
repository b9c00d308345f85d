import { Type, type Static } from "typebox";
import { EventTime, WaitingRoomPatch } from "./event.ts";
import { Offset, Uuid } from "./common.ts";

/** The chat service's event fields (no seat map: its events are chat rooms with tickets). */
const seedEventFields = {
  name: Type.String({ minLength: 1, maxLength: 200, examples: ["concert"] }),
  description: Type.String({ maxLength: 10_000, examples: ["A great music concert"] }),
  location: Type.String({ minLength: 1, maxLength: 200, examples: ["Antalya"] }),
  start_time: EventTime,
  end_time: EventTime,
};

/** `POST /api/events/create_event`, as the chat service's clients send it. */
export const SeedCreateEventBody = Type.Object({ event: Type.Object(seedEventFields) });
export type SeedCreateEventBody = Static<typeof SeedCreateEventBody>;

/** The fields an update may change (at least one). */
export const EventChanges = Type.Object(
  {
    name: Type.Optional(seedEventFields.name),
    description: Type.Optional(seedEventFields.description),
    location: Type.Optional(seedEventFields.location),
    start_time: Type.Optional(EventTime),
    end_time: Type.Optional(EventTime),
  },
  { minProperties: 1 },
);
export type EventChanges = Static<typeof EventChanges>;

/** `PATCH /api/events/:id`: the chat service's changeable fields (`EventChanges`) and the waiting room. */
export const EventPatch = Type.Object(
  {
    ...EventChanges.properties,
    waiting_room: Type.Optional(Type.Union([WaitingRoomPatch, Type.Null()], { description: "changes to the waiting room; null removes it (only before it opens)" })),
  },
  { minProperties: 1 },
);
export type EventPatch = Static<typeof EventPatch>;

/** `POST /api/events/update_event`, as the chat service's clients send it. */
export const SeedUpdateEventBody = Type.Object({ id: Uuid, event: EventChanges });
export type SeedUpdateEventBody = Static<typeof SeedUpdateEventBody>;

/** `POST /api/events/get_chat_room_by_id`. */
export const SeedChatRoomBody = Type.Object({ event_id: Uuid });
export type SeedChatRoomBody = Static<typeof SeedChatRoomBody>;

export const ChatRoomResponse = Type.Object({
  id: Uuid,
  event_id: Uuid,
  status: Type.Unsafe<"inactive" | "active">({ type: "string", enum: ["inactive", "active"] }),
  activates_at: Type.String({ format: "date-time", description: "when the room opens for messages (start − CHAT_ACTIVATE_BEFORE_MS)" }),
  closes_at: Type.String({ format: "date-time", description: "the event's end: the room closes and its messages are archived" }),
});
export type ChatRoomResponse = Static<typeof ChatRoomResponse>;

export const MessageView = Type.Object({
  id: Uuid,
  user_id: Type.Union([Uuid, Type.Null()]),
  content: Type.String(),
  content_type: Type.String(),
  inserted_at: Type.String({ format: "date-time" }),
});

export const ArchivedMessageView = Type.Object({ ...MessageView.properties, archived_at: Type.String({ format: "date-time" }) });

export const ArchiveQuery = Type.Object({
  after: Type.Optional(Uuid),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
});
export type ArchiveQuery = Static<typeof ArchiveQuery>;

export const ArchiveResponse = Type.Object({
  room: Type.Object({ id: Uuid, status: Type.String() }),
  messages: Type.Array(ArchivedMessageView),
  more: Type.Boolean({ description: "true when another page follows; ask again with after = the last id" }),
});

export const NotificationView = Type.Object({
  id: Uuid,
  event_id: Type.Union([Uuid, Type.Null()]),
  message: Type.String(),
  status: Type.Unsafe<"unread" | "read">({ type: "string", enum: ["unread", "read"] }),
  inserted_at: Type.String({ format: "date-time" }),
});

export const NotificationsQuery = Type.Object({
  status: Type.Optional(Type.Unsafe<"unread" | "read">({ type: "string", enum: ["unread", "read"] })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  offset: Type.Optional(Offset),
});
export type NotificationsQuery = Static<typeof NotificationsQuery>;

export const NotificationListResponse = Type.Object({ notifications: Type.Array(NotificationView) });
export const NotificationResponse = Type.Object({ notification: NotificationView });

/** `PUT /api/events/:id/chat_room/slow_mode`: seconds between two messages of one member; 0 turns it off. */
export const SlowModeBody = Type.Object({ seconds: Type.Integer({ minimum: 0, maximum: 3600, examples: [10] }) });
export type SlowModeBody = Static<typeof SlowModeBody>;
export const SlowModeResponse = Type.Object({ event_id: Uuid, seconds: Type.Integer() });
