import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { currentUser } from "../plugins/auth.ts";
import { forbidden } from "../errors.ts";
import { bearerSecurity, errorResponses } from "../schemas/common.ts";
import { AssignTicketParams, CreateTicketBody, TicketResponse } from "../schemas/ticket.ts";
import { assignTicket, createTicket } from "../services/tickets.ts";

/**
 * The box office's tickets: an admin issues them (`POST /api/tickets/create`, or the REST `POST /api/tickets`),
 * and a ticket is assigned to a user (the caller themselves, or anyone by an admin). Tickets issued by
 * paid orders are rows of the same table and open the chat room the same way.
 */
export const ticketRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const log = app.deps.logger.child({ module: "tickets" });
  const db = app.deps.db.db;

  for (const url of ["/api/tickets/create", "/api/tickets"]) {
    app.post(
      url,
      {
        onRequest: app.requireRole("admin"),
        schema: {
          tags: ["tickets"],
          summary: url === "/api/tickets" ? "Issue a ticket (admin)" : "Create a ticket (box office, admin)",
          description: "`{\"ticket\": {\"ticket_number\", \"event_id\"}}`. A number already issued is 409; an unknown event 422 naming `ticket.event_id`.",
          security: bearerSecurity,
          body: CreateTicketBody,
          response: { 201: TicketResponse, ...errorResponses(401, 403, 409, 422) },
        },
      },
      async (request, reply) => {
        const ticket = await createTicket({ db, ticketNumber: request.body.ticket.ticket_number, eventId: request.body.ticket.event_id });
        log.info({ ticketId: ticket.id, eventId: ticket.event_id, by: request.user?.userId }, "ticket issued");
        return reply.code(201).send({ ticket });
      },
    );
  }

  app.patch(
    "/api/tickets/:ticket_id/assign/:user_id",
    {
      onRequest: app.authenticate,
      schema: {
        tags: ["tickets"],
        summary: "Assign a ticket to a user (box office)",
        description:
          "A user may assign a ticket only to themselves (403 otherwise); an admin to anyone. 404 for an unknown ticket or user; " +
          "409 `ticket_claimed` when it belongs to someone else, `ticket_used` once its holder entered the chat room with it (both for users only: " +
          "an admin may move any valid ticket, audited in seat_audit as `ticket_reassigned`), `ticket_void`.",
        security: bearerSecurity,
        params: AssignTicketParams,
        response: { 200: TicketResponse, ...errorResponses(401, 403, 404, 409, 422) },
      },
    },
    async (request) => {
      const caller = currentUser(request);
      const { ticket_id: ticketId, user_id: userId } = request.params;
      const byAdmin = caller.role === "admin";
      if (!byAdmin && caller.userId.toLowerCase() !== userId.toLowerCase()) throw forbidden("you may assign tickets only to yourself");
      const ticket = await assignTicket({ db, ticketId: ticketId.toLowerCase(), userId: userId.toLowerCase(), byAdmin, actor: `user:${caller.userId}` });
      log.info({ ticketId, userId, by: caller.userId }, "ticket assigned");
      return { ticket };
    },
  );
};
