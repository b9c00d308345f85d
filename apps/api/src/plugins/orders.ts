import fp from "fastify-plugin";
import type { OrdersContext } from "@seatdrop/orders";
import { SeatService } from "@seatdrop/seats";

declare module "fastify" {
  interface FastifyInstance {
    /** What the order routes need: database, seat service, config, job producer. */
    orders: OrdersContext;
  }
}

/** Builds the orders context once from the app's dependencies. */
export const ordersPlugin = fp(
  async (app) => {
    const { deps } = app;
    const seats = deps.seats ?? new SeatService({ redis: deps.redis, keys: deps.keys, config: deps.config, logger: deps.logger, db: deps.db.db });
    app.decorate("orders", { db: deps.db.db, seats, config: deps.config, logger: deps.logger.child({ module: "orders" }), jobs: deps.orderJobs });
    // A new event's seat map goes into Redis at once, so the first join or lock does not wait for it
    // (any seat operation would also load it from PostgreSQL on first use).
    app.events.onSaved(async (e) => {
      if (!e.previous) await seats.events.loadFromDb(e.eventId);
    });
  },
  { name: "orders", dependencies: ["deps", "events"], fastify: "5.x" },
);
