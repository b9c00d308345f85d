import { Type, type Static } from "typebox";

/**
 * The waiting room's own routes: its live status, the published draw, the ops control.
 * The room's settings as part of an event (`waiting_room` of the event views and bodies) are in
 * `event.ts`.
 */

const roomStates = ["not_open", "pre_queue", "running", "sold_out", "closed"] as const;

/** `GET /api/events/:id/waiting_room`: `WaitingRooms.status` of libs/queue. */
export const WaitingRoomStatusView = Type.Object(
  {
    state: Type.Unsafe<(typeof roomStates)[number]>({
      type: "string",
      enum: [...roomStates],
      description:
        "not_open (before opens_at), pre_queue (joining before the draw, order decided by it), running (drawn, admitting), sold_out (nothing free, held or reserved), closed (sales_close_at passed)",
    }),
    opens_at: Type.String({ format: "date-time", description: "when the pre-queue opens" }),
    sales_open_at: Type.String({ format: "date-time", description: "when the draw is made and admission begins" }),
    commitment: Type.String({ description: "SHA-256 (hex) of the draw's seed, published before the pre-queue opened" }),
    seed: Type.Union([Type.String(), Type.Null()], { description: "the draw's seed, null until the draw; SHA-256(seed) = commitment" }),
    waiting: Type.Integer({ description: "people in the queue (before the draw: in the pre-queue)" }),
    admitted: Type.Integer({ description: "buyers admitted so far" }),
    sold_out: Type.Boolean(),
    shopping: Type.Union([Type.Integer(), Type.Null()], { description: "admitted buyers whose turn runs and who hold seats or are about to; null before the room's first tick" }),
    free_seats: Type.Union([Type.Integer(), Type.Null()], { description: "seats neither held, reserved nor sold, as the last tick counted; null before the room's first tick" }),
    admitted_per_minute: Type.Union([Type.Integer(), Type.Null()], { description: "admissions per minute, recent mean; null before the room's first tick" }),
    paused: Type.Boolean({ description: "an operator paused admission" }),
    max_active: Type.Union([Type.Integer(), Type.Null()], { description: "cap on buyers shopping at once; null for none" }),
    turn_ms: Type.Integer({ description: "how long an admitted buyer may shop, ms" }),
    pow_bits: Type.Integer({ description: "leading zero bits a queue join's proof of work must have; 0 for none" }),
    challenge: Type.String({ description: "the proof of work's per-event challenge (hex)" }),
  },
  { title: "WaitingRoomStatus" },
);
export type WaitingRoomStatusView = Static<typeof WaitingRoomStatusView>;

/** `GET /api/events/:id/waiting_room/draw`. */
export const WaitingRoomDrawView = Type.Object(
  {
    seed: Type.String({ description: "the draw's seed; SHA-256 of its UTF-8 bytes (hex) is the room's commitment" }),
    keys: Type.Array(Type.String(), {
      description: "HMAC-SHA256(key = seed, message = user id), hex, of every pre-queue entrant, ascending = queue order (no user ids)",
    }),
    drawn_at: Type.String({ format: "date-time" }),
  },
  { title: "WaitingRoomDraw" },
);
export type WaitingRoomDrawView = Static<typeof WaitingRoomDrawView>;

/** `POST /api/ops/events/:id/waiting_room`: at least one of the two. */
export const WaitingRoomControlBody = Type.Object(
  {
    paused: Type.Optional(Type.Boolean({ description: "true pauses admission (nobody new is let in; turns running go on), false resumes it" })),
    max_active: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()], { description: "cap on buyers shopping at once; null removes the cap" }),
    ),
  },
  { minProperties: 1 },
);
export type WaitingRoomControlBody = Static<typeof WaitingRoomControlBody>;
