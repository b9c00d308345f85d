import { Type, type Static } from "typebox";
import { Uuid } from "./common.ts";

const SeatId = Type.String({ pattern: "^[A-Za-z0-9_.:-]{1,64}$", description: "a seat id of the event, e.g. A_12" });

export const CreateOrderBody = Type.Object(
  {
    event_id: Uuid,
    seats: Type.Optional(Type.Array(SeatId, { minItems: 1, maxItems: 100, description: "a subset of your hold; all of it when absent" })),
  },
  { additionalProperties: false },
);
export type CreateOrderBody = Static<typeof CreateOrderBody>;

export const OrderView = Type.Object(
  {
    id: Uuid,
    user_id: Uuid,
    event_id: Uuid,
    status: Type.Union([Type.Literal("pending"), Type.Literal("paid"), Type.Literal("canceled"), Type.Literal("expired"), Type.Literal("refunded")]),
    total_cents: Type.Integer(),
    total: Type.Number(),
    currency: Type.String(),
    expires_at: Type.String({ format: "date-time", description: "end of the payment window (pending orders)" }),
    paid_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
    closed_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
    inserted_at: Type.String({ format: "date-time" }),
    items: Type.Array(Type.Object({ seat_id: Type.String(), price_cents: Type.Integer() })),
    tickets: Type.Array(Type.Object({ id: Uuid, ticket_number: Type.String(), seat_id: Type.Union([Type.String(), Type.Null()]), status: Type.String() })),
  },
  { title: "Order" },
);

export const OrderList = Type.Object({ orders: Type.Array(OrderView) });

export const PaymentWebhookBody = Type.Object(
  {
    payment_id: Type.String({ minLength: 1, maxLength: 255 }),
    // Any reference the provider sends: money that names no order of ours is still recorded (and
    // flagged for refund), never refused — a refusal would only make the provider retry it forever.
    order_id: Type.String({ minLength: 1, maxLength: 255, description: "our order id; a reference that is not one is recorded and flagged for refund" }),
    amount: Type.Number({ minimum: 0, description: "in major units, e.g. 91.00" }),
    currency: Type.String({ pattern: "^[A-Z]{3}$" }),
    status: Type.Union([Type.Literal("succeeded"), Type.Literal("failed")]),
    event_id: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: "the provider's id of this delivery; without it, deliveries are told apart by payment_id and status" }),
    ),
  },
  { additionalProperties: true },
);
export type PaymentWebhookBody = Static<typeof PaymentWebhookBody>;

export const PaymentWebhookResponse = Type.Object({
  result: Type.Union([Type.Literal("paid"), Type.Literal("payment_failed"), Type.Literal("flagged_for_refund")]),
  duplicate: Type.Boolean({ description: "true when this provider event (event_id, else payment_id with status) was already processed" }),
  order_id: Type.String(),
  order_status: Type.Union([Type.String(), Type.Null()]),
  note: Type.Union([Type.String(), Type.Null()]),
});

export const SeatMapResponse = Type.Object({
  event_id: Uuid,
  seq: Type.Integer({ description: "the event's sequence number this map corresponds to" }),
  seats: Type.Array(
    Type.Object({
      id: Type.String(),
      section: Type.Union([Type.String(), Type.Null()]),
      row: Type.Union([Type.String(), Type.Null()]),
      number: Type.Union([Type.Integer(), Type.Null()]),
      price: Type.Number(),
      state: Type.Union([Type.Literal("available"), Type.Literal("locked"), Type.Literal("reserved"), Type.Literal("paid")]),
    }),
  ),
});

export const RebuildBody = Type.Object({ event_id: Type.Optional(Uuid) }, { additionalProperties: false });
