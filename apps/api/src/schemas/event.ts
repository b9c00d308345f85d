import { Type, type Static } from "typebox";
import { Offset, Uuid } from "./common.ts";

/** Seat ids go into Redis keys and wire frames, so they stay short and free of separators that matter there. */
export const SEAT_ID_PATTERN = "^[A-Za-z0-9_.:-]{1,64}$";
export const MAX_SEATS_PER_EVENT = 100_000;
/** `price_cents` is a PostgreSQL integer, so prices stop below 2^31 cents. */
export const MAX_PRICE = 21_474_836.47;

/**
 * ISO-8601 date-time, or the chat service's `YYYY-MM-DD HH:MM:SS`. A time without an offset is UTC, as
 * the chat service's naive datetimes were. The pattern only admits the shape; `parseEventTime` checks the calendar.
 */
export const EventTime = Type.String({
  pattern: "^\\d{4}-\\d{2}-\\d{2}[Tt ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?([Zz]|[+-]\\d{2}:?\\d{2})?$",
  description: "ISO-8601 date-time, or YYYY-MM-DD HH:MM:SS (UTC)",
  examples: ["2025-01-01T19:00:00Z", "2025-01-01 19:00:07"],
});

export const SeatInput = Type.Object({
  id: Type.String({ pattern: SEAT_ID_PATTERN, description: "unique within the event, e.g. A_1", examples: ["A_1"] }),
  section: Type.Optional(Type.String({ maxLength: 64 })),
  row: Type.Optional(Type.String({ maxLength: 64 })),
  number: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
  price: Type.Number({ minimum: 0, maximum: MAX_PRICE, description: "in major units (45.5 = 45.50); at most 2 decimals" }),
});
export type SeatInput = Static<typeof SeatInput>;

/** Per-event hold settings; omitted ones fall back to the cluster's HOLD_* configuration. */
const holdSettingFields = {
  hold_ttl_ms: Type.Integer({ minimum: 100, maximum: 86_400_000, description: "how long a hold lives from its first lock" }),
  hold_max_seats: Type.Integer({ minimum: 1, maximum: 1000, description: "seats one user may hold at once" }),
  hold_grace_ms: Type.Integer({ minimum: 0, maximum: 86_400_000, description: "how long a hold outlives its user's last connection" }),
  hold_max_extensions: Type.Integer({ minimum: 0, maximum: 100, description: "how often a hold may be extended" }),
};

/**
 * An event's waiting room, as an admin sets it. The pre-queue opens at `opens_at`; at the
 * event's `sales_open_at` everyone in it is ordered by a draw the room committed to beforehand, and
 * later arrivals queue behind in order of arrival. Admission is paced by the free seats.
 */
const waitingRoomFields = {
  opens_at: Type.String({
    format: "date-time",
    description: "when the pre-queue opens (ISO-8601); must be before the event's sales_open_at, when the draw is made",
    examples: ["2030-01-01T17:30:00Z"],
  }),
  turn_ms: Type.Integer({ minimum: 1000, maximum: 86_400_000, description: "how long an admitted buyer may shop, ms (default 600000)", examples: [600_000] }),
  max_active: Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()], {
    description: "cap on admitted buyers shopping at once; null for none (admission is paced by the free seats either way)",
  }),
  pow_bits: Type.Integer({ minimum: 0, maximum: 24, description: "leading zero bits a queue join's proof of work must have; 0 (the default) for none", examples: [0] }),
};

/** `waiting_room` of `POST /api/events`: `opens_at` required, the rest defaulted. */
export const WaitingRoomInput = Type.Object(
  {
    opens_at: waitingRoomFields.opens_at,
    turn_ms: Type.Optional(waitingRoomFields.turn_ms),
    max_active: Type.Optional(waitingRoomFields.max_active),
    pow_bits: Type.Optional(waitingRoomFields.pow_bits),
  },
  { description: "the event's waiting room; needs sales_open_at. Its draw's seed and commitment are made by the server" },
);
export type WaitingRoomInput = Static<typeof WaitingRoomInput>;

/**
 * `waiting_room` of `PATCH /api/events/:id`: the fields given replace the stored ones, the others are
 * kept (the seed, commitment and challenge always are). Adding a room to an event without one needs
 * `opens_at`; `null` removes the room, only before it opens.
 */
export const WaitingRoomPatch = Type.Object(
  {
    opens_at: Type.Optional(waitingRoomFields.opens_at),
    turn_ms: Type.Optional(waitingRoomFields.turn_ms),
    max_active: Type.Optional(waitingRoomFields.max_active),
    pow_bits: Type.Optional(waitingRoomFields.pow_bits),
  },
  { description: "changes to the waiting room (the fields given); adding one needs opens_at; null removes it before it opens" },
);
export type WaitingRoomPatch = Static<typeof WaitingRoomPatch>;

export const CreateEventBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200, examples: ["concert"] }),
  description: Type.String({ maxLength: 10_000, examples: ["A great music concert"] }),
  location: Type.String({ minLength: 1, maxLength: 200, examples: ["Antalya"] }),
  start_time: EventTime,
  end_time: EventTime,
  hold_ttl_ms: Type.Optional(holdSettingFields.hold_ttl_ms),
  hold_max_seats: Type.Optional(holdSettingFields.hold_max_seats),
  hold_grace_ms: Type.Optional(holdSettingFields.hold_grace_ms),
  hold_max_extensions: Type.Optional(holdSettingFields.hold_max_extensions),
  sales_open_at: Type.Optional(Type.String({ format: "date-time", description: "locks and orders are refused before this (sales_not_open)" })),
  sales_close_at: Type.Optional(Type.String({ format: "date-time", description: "locks and orders are refused from this on (sales_closed)" })),
  max_seats_per_user: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "seats one user may have across holds and orders" })),
  payment_window_ms: Type.Optional(Type.Integer({ minimum: 1000, maximum: 7 * 86_400_000, description: "how long a pending order waits for payment" })),
  seats: Type.Array(SeatInput, { minItems: 1, maxItems: MAX_SEATS_PER_EVENT }),
  waiting_room: Type.Optional(Type.Union([WaitingRoomInput, Type.Null()], { description: "a waiting room in front of the sale (needs sales_open_at); null or absent for none" })),
});
export type CreateEventBody = Static<typeof CreateEventBody>;

export const SeatView = Type.Object({
  id: Type.String(),
  section: Type.Optional(Type.String()),
  row: Type.Optional(Type.String()),
  number: Type.Optional(Type.Integer()),
  price: Type.Number({ description: "major units" }),
});
export type SeatView = Static<typeof SeatView>;

export const ChatRoomView = Type.Object({
  id: Uuid,
  status: Type.Unsafe<"inactive" | "active">({ type: "string", enum: ["inactive", "active"] }),
});

/** An event's waiting room as everyone may see it: the settings and the draw's commitment, never the seed. */
export const WaitingRoomView = Type.Object(
  {
    opens_at: Type.String({ format: "date-time", description: "when the pre-queue opens" }),
    turn_ms: Type.Integer({ description: "how long an admitted buyer may shop, ms" }),
    max_active: Type.Union([Type.Integer(), Type.Null()], { description: "cap on buyers shopping at once; null for none" }),
    pow_bits: Type.Integer({ description: "leading zero bits a queue join's proof of work must have; 0 for none" }),
    commitment: Type.String({ description: "SHA-256 (hex) of the draw's secret seed, fixed when the room was made; the seed is published after the draw" }),
    challenge: Type.String({ description: "the proof of work's per-event challenge (hex)" }),
  },
  { title: "WaitingRoom" },
);
export type WaitingRoomView = Static<typeof WaitingRoomView>;

const waitingRoomViewField = Type.Union([WaitingRoomView, Type.Null()], { description: "the event's waiting room, or null for none" });

export const EventView = Type.Object({
  id: Uuid,
  name: Type.String(),
  description: Type.String(),
  location: Type.String(),
  start_time: Type.String({ format: "date-time" }),
  end_time: Type.String({ format: "date-time" }),
  hold_ttl_ms: Type.Integer({ description: "resolved: the event's own value or the cluster default" }),
  hold_max_seats: Type.Integer(),
  hold_grace_ms: Type.Integer(),
  hold_max_extensions: Type.Integer(),
  sales_open_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  sales_close_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  max_seats_per_user: Type.Union([Type.Integer(), Type.Null()]),
  payment_window_ms: Type.Integer({ description: "resolved: the event's own value or PAYMENT_WINDOW_MS" }),
  sales_paused: Type.Boolean({ description: "true while the box office has frozen sales (holds are kept; locks and orders are refused sales_paused)" }),
  seat_count: Type.Integer(),
  chat_room: Type.Optional(ChatRoomView),
  waiting_room: waitingRoomViewField,
  inserted_at: Type.String({ format: "date-time" }),
});
export type EventView = Static<typeof EventView>;

/**
 * An event's layout: what a seat map draws, apart from the live states, which the
 * `seats:<id>` channel sends (taken seats only, for joins with `changes`). It never changes after
 * the event is created, so clients and caches keep it under its strong ETag.
 */
export const EventLayoutView = Type.Object(
  {
    event_id: Uuid,
    seat_count: Type.Integer(),
    sections: Type.Array(Type.String(), { description: "the names a seats join may give in `sections`, in natural order" }),
    seats: Type.Array(SeatView, { description: "every seat, in natural order (A_2 before A_10)" }),
  },
  { title: "EventLayout" },
);
export type EventLayoutView = Static<typeof EventLayoutView>;

export const EventSummaryView = Type.Object({
  id: Uuid,
  name: Type.String(),
  location: Type.String(),
  start_time: Type.String({ format: "date-time" }),
  end_time: Type.String({ format: "date-time" }),
  seat_count: Type.Integer(),
  waiting_room: waitingRoomViewField,
});
export type EventSummaryView = Static<typeof EventSummaryView>;

export const ListEventsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
  offset: Type.Optional(Offset),
});
export type ListEventsQuery = Static<typeof ListEventsQuery>;

export const EventListResponse = Type.Object({ events: Type.Array(EventSummaryView) });
export type EventListResponse = Static<typeof EventListResponse>;
