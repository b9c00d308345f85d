import { Type, type Static } from "typebox";
import { Uuid } from "./common.ts";

export const TicketNumber = Type.String({ pattern: "^[A-Za-z0-9._-]{1,64}$", description: "unique across all events", examples: ["123456789"] });

/** The chat service's `POST /api/tickets/create` (and the canonical `POST /api/tickets`). */
export const CreateTicketBody = Type.Object({ ticket: Type.Object({ ticket_number: TicketNumber, event_id: Uuid }) });
export type CreateTicketBody = Static<typeof CreateTicketBody>;

export const AssignTicketParams = Type.Object({ ticket_id: Uuid, user_id: Uuid });
export type AssignTicketParams = Static<typeof AssignTicketParams>;

export const TicketView = Type.Object({
  id: Uuid,
  ticket_number: Type.String(),
  event_id: Uuid,
  user_id: Type.Union([Uuid, Type.Null()]),
  status: Type.Unsafe<"valid" | "void">({ type: "string", enum: ["valid", "void"] }),
  used_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()], { description: "when it was claimed to enter the chat room" }),
  order_id: Type.Union([Uuid, Type.Null()], { description: "the paid order that issued it, if any" }),
  seat_id: Type.Union([Type.String(), Type.Null()]),
  inserted_at: Type.String({ format: "date-time" }),
});
export type TicketView = Static<typeof TicketView>;

export const TicketResponse = Type.Object({ ticket: TicketView });
