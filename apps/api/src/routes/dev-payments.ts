import { createHmac, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { loadOrderView } from "@seatdrop/orders";
import { Type } from "typebox";
import { ApiError } from "../errors.ts";
import { currentUser } from "../plugins/auth.ts";
import { bearerSecurity, errorResponses, Uuid } from "../schemas/common.ts";
import { OrderView, PaymentWebhookResponse } from "../schemas/order.ts";

const devPayHtml = readFileSync(fileURLToPath(new URL("../pages/dev-pay.html", import.meta.url)), "utf8");

const DevPaymentBody = Type.Object(
  {
    order_id: Uuid,
    outcome: Type.Union([Type.Literal("succeeded"), Type.Literal("failed")], { description: "what the pretend provider reports" }),
  },
  { additionalProperties: false },
);

/**
 * The development payment provider: a page (`/dev/pay?order=<id>`) where the buyer "pays" a pending
 * order, and `POST /api/dev/payments`, which builds the provider's webhook for it, signs it with
 * PAYMENT_WEBHOOK_SECRET here on the server and delivers it to `POST /api/payments/webhook` (the
 * same route, signature check and idempotency a real provider goes through). The browser never sees
 * the secret.
 *
 * Registered only with DEV_PAYMENTS=1 (see pages.ts; `npm start` sets it outside production, and
 * production refuses it): otherwise neither route exists (404), so nobody can pay an order without a
 * real provider's signed webhook.
 */
export const devPaymentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config } = app.deps;
  if (!config.DEV_PAYMENTS || config.NODE_ENV === "production") throw new Error("the development payment routes are registered only with DEV_PAYMENTS=1, never in production");

  app.get("/dev/pay", { schema: { hide: true } }, async (_request, reply) => reply.type("text/html; charset=utf-8").header("cache-control", "no-store").send(devPayHtml));

  app.post(
    "/api/dev/payments",
    {
      onRequest: app.authenticate,
      schema: {
        tags: ["development"],
        summary: "Pay (or fail) your pending order through the development payment provider (not in production)",
        description: "Signs `{payment_id, order_id, amount, currency, status}` with PAYMENT_WEBHOOK_SECRET and delivers it to the payment webhook; answers what the webhook answered and the order after it.",
        security: bearerSecurity,
        body: DevPaymentBody,
        response: { 200: Type.Object({ webhook: PaymentWebhookResponse, order: OrderView }), ...errorResponses(401, 403, 404, 409, 422, 502) },
      },
    },
    async (request) => {
      const user = currentUser(request);
      const orderId = request.body.order_id.toLowerCase();
      const order = await loadOrderView(app.orders.db, orderId);
      if (!order) throw new ApiError(404, "not_found", "no such order");
      if (order.user_id !== user.userId) throw new ApiError(403, "forbidden", "this order is not yours");
      // A real provider would take the money again and the webhook would flag it for refund; the
      // pretend one says no before anything is charged.
      if (order.status !== "pending") throw new ApiError(409, "order_not_pending", `the order is ${order.status}, not pending`, { field: "order_id" });
      const raw = JSON.stringify({
        payment_id: `dev_${randomUUID()}`,
        order_id: order.id,
        amount: order.total,
        currency: order.currency,
        status: request.body.outcome,
      });
      const t = Math.floor(Date.now() / 1000);
      const signature = `t=${t},v1=${createHmac("sha256", config.PAYMENT_WEBHOOK_SECRET).update(`${t}.${raw}`).digest("hex")}`;
      const delivered = await app.inject({
        method: "POST",
        url: "/api/payments/webhook",
        headers: { "content-type": "application/json", "payment-signature": signature },
        payload: raw,
      });
      if (delivered.statusCode !== 200) throw new ApiError(502, "webhook_refused", `the payment webhook answered ${delivered.statusCode}: ${delivered.body}`);
      const after = await loadOrderView(app.orders.db, order.id);
      return { webhook: delivered.json(), order: after ?? order };
    },
  );
};
