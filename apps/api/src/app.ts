import { randomUUID } from "node:crypto";
import Fastify, { LogController, type FastifyBaseLogger } from "fastify";
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { ApiDeps } from "./deps.ts";
import { authPlugin } from "./plugins/auth.ts";
import { chatRoomsPlugin } from "./plugins/chat-rooms.ts";
import { eventsPlugin } from "./plugins/events.ts";
import { chatAdminRoutes } from "./routes/chat-admin.ts";
import { eventSeedRoutes } from "./routes/event-seed-routes.ts";
import { notificationRoutes } from "./routes/notifications.ts";
import { ticketRoutes } from "./routes/tickets.ts";
import { idempotencyPlugin } from "./plugins/idempotency.ts";
import { ordersPlugin } from "./plugins/orders.ts";
import { waitingRoomsPlugin } from "./plugins/waiting-rooms.ts";
import { waitingRoomRoutes } from "./routes/waiting-room.ts";
import { orderRoutes } from "./routes/orders.ts";
import { seatStateRoutes } from "./routes/seat-state.ts";
import { opsControlRoutes } from "./routes/ops-controls.ts";
import { opsOrderRoutes } from "./routes/ops-orders.ts";
import { opsAlertRoutes } from "./routes/ops-alerts.ts";
import { seatMapCsvRoutes } from "./routes/seat-map-csv.ts";
import { paymentWebhookRoutes } from "./routes/payment-webhook.ts";
import { pageRoutes } from "./routes/pages.ts";
import { depsPlugin } from "./plugins/deps.ts";
import { errorHandlerPlugin } from "./plugins/error-handler.ts";
import { inputGuardPlugin } from "./plugins/input-guard.ts";
import { openApiPlugin } from "./plugins/openapi.ts";
import { accessLogPlugin } from "./plugins/access-log.ts";
import { requestMetricsPlugin } from "./plugins/request-metrics.ts";
import { eventCreateRoutes } from "./routes/event-create.ts";
import { eventReadRoutes } from "./routes/event-read.ts";
import { healthRoutes } from "./routes/health.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { userAccountRoutes } from "./routes/user-accounts.ts";
import { userProfileRoutes } from "./routes/user-profile.ts";

/**
 * Builds the HTTP API as a Fastify instance without listening, so tests drive it with `inject()`
 * and `main.ts` adds the port and the shutdown.
 *
 * Validation uses TypeBox's compiler: it converts types only for params, query and headers (where
 * everything arrives as a string) and never coerces a JSON body, so `"price": "45"` is a 422, not a
 * silently accepted number.
 */
/** A client's request id when it is at most 64 of `[A-Za-z0-9._-]`, else a fresh random one. */
export function requestIdOf(header: string | string[] | undefined): string {
  if (typeof header === "string" && /^[A-Za-z0-9._-]{1,64}$/.test(header)) return header;
  return randomUUID();
}

export function buildApp(deps: ApiDeps) {
  const app = Fastify({
    loggerInstance: deps.logger.child({ module: "http" }) as FastifyBaseLogger,
    // One line per request instead of Fastify's two, quiet for probes (plugins/access-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    // Behind a proxy the client address comes from X-Forwarded-For, believed only from
    // TRUSTED_PROXIES (docs/reliability.md, round two, finding 1: believing any private-network
    // peer would let any container there choose the address its limits counted); the ws-nodes read
    // it by the same rule (client-ip.ts).
    trustProxy: deps.config.TRUSTED_PROXIES.length > 0 ? [...deps.config.TRUSTED_PROXIES] : false,
    // Request ids let a log line of an error be matched with the client's report. A client's
    // `x-request-id` is kept only when short and plain (docs/reliability.md, round two, finding 9:
    // otherwise a 12 KB id makes a 12 KB log line per request); anything else is replaced by one of
    // ours.
    requestIdHeader: false,
    genReqId: (req) => requestIdOf(req.headers["x-request-id"]),
  })
    .setValidatorCompiler(TypeBoxValidatorCompiler)
    .withTypeProvider<TypeBoxTypeProvider>();

  app.register(depsPlugin, { deps });
  app.register(errorHandlerPlugin);
  app.register(inputGuardPlugin);
  app.register(requestMetricsPlugin);
  app.register(accessLogPlugin);
  app.register(openApiPlugin);
  app.register(authPlugin);
  app.register(eventsPlugin);
  app.register(chatRoomsPlugin);
  app.register(ordersPlugin);
  app.register(waitingRoomsPlugin);
  app.register(idempotencyPlugin);

  app.register(healthRoutes);
  app.register(metricsRoutes, { token: deps.config.METRICS_TOKEN });
  app.register(userAccountRoutes);
  app.register(userProfileRoutes);
  app.register(eventCreateRoutes);
  app.register(eventReadRoutes);
  app.register(eventSeedRoutes);
  app.register(ticketRoutes);
  app.register(notificationRoutes);
  app.register(chatAdminRoutes);
  app.register(orderRoutes);
  app.register(seatStateRoutes);
  app.register(opsControlRoutes);
  app.register(opsOrderRoutes);
  app.register(opsAlertRoutes);
  app.register(seatMapCsvRoutes);
  app.register(waitingRoomRoutes);
  app.register(paymentWebhookRoutes);
  app.register(pageRoutes);
  return app;
}

/** The API's Fastify instance. */
export type ApiApp = ReturnType<typeof buildApp>;
