import swagger from "@fastify/swagger";
import fp from "fastify-plugin";

/**
 * The OpenAPI document, generated from the same route schemas that validate requests and serialise
 * responses, so it cannot drift from what the API does. Served at `GET /openapi.json`. Registered
 * before the routes: @fastify/swagger learns routes as they are added.
 */
export const openApiPlugin = fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: "3.1.0",
        info: {
          title: "Seat drop cluster API",
          version: "0.1.0",
          description:
            "HTTP API of the seat drop cluster: accounts (the chat service's routes), events with their seat maps, health. " +
            "Errors are always `{\"error\": \"<code>\", \"message\": \"...\"}`; invalid input is 422 `validation_failed` naming each field.",
        },
        tags: [
          { name: "users", description: "Sign up and sign in (the chat service's routes)" },
          { name: "events", description: "Events, their seat maps and chat rooms" },
          { name: "waiting-room", description: "An event's waiting room: its status and its verifiable draw" },
          { name: "orders", description: "Holds become orders; cancel, refund (the original seat server's reserve and pay API)" },
          { name: "payments", description: "Signed payment confirmations (webhook)" },
          { name: "tickets", description: "Tickets: create and assign (the box office); paid orders issue them too" },
          { name: "notifications", description: "A user's stored notifications" },
          { name: "admin", description: "Operator actions" },
          { name: "ops", description: "Health, readiness, metrics and the cluster status" },
        ],
        components: {
          securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
        },
      },
    });
    app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  },
  { name: "openapi", fastify: "5.x" },
);
