import { createHmac, timingSafeEqual } from "node:crypto";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { metrics } from "@seatdrop/observability";
import { confirmPayment } from "@seatdrop/orders";
import { ApiError } from "../errors.ts";
import { errorResponses } from "../schemas/common.ts";
import { PaymentWebhookBody, PaymentWebhookResponse } from "../schemas/order.ts";

/** A signature older or newer than this is refused (replays of captured webhooks). */
const TOLERANCE_S = 300;

declare module "fastify" {
  interface FastifyRequest {
    rawBody?: string;
  }
}

/**
 * Checks `Payment-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, the way
 * Stripe signs: over the exact bytes received, with a timestamp inside ±5 minutes. Several `v1`
 * entries are allowed (secret rotation). Throws a 400 naming what is wrong.
 */
export function verifyPaymentSignature(header: string | undefined, rawBody: string, secret: string, nowS = Math.floor(Date.now() / 1000)): void {
  if (!header) throw new ApiError(400, "missing_signature", "the Payment-Signature header is missing");
  let t: number | undefined;
  const sigs: string[] = [];
  for (const part of header.split(",")) {
    const [k, v] = part.trim().split("=", 2);
    if (k === "t" && v && /^\d+$/.test(v)) t = Number(v);
    else if (k === "v1" && v) sigs.push(v);
  }
  if (t === undefined || sigs.length === 0) throw new ApiError(400, "invalid_signature", "Payment-Signature must be t=<unix seconds>,v1=<hex hmac>");
  if (Math.abs(nowS - t) > TOLERANCE_S) throw new ApiError(400, "timestamp_out_of_range", "the signature's timestamp is more than five minutes off");
  const expected = createHmac("sha256", secret).update(`${t}.${rawBody}`).digest();
  const ok = sigs.some((s) => {
    const given = Buffer.from(s, "hex");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) throw new ApiError(400, "invalid_signature", "the signature does not match the body");
}

/**
 * `POST /api/payments/webhook`: payment confirmations from the provider, idempotent per provider
 * event (`event_id`, else `payment_id` with `status`).
 * Registered in its own encapsulated plugin because it parses JSON keeping the raw text, which the
 * signature covers.
 */
export const paymentWebhookRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    request.rawBody = body as string;
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(new ApiError(400, "bad_request", "the body is not valid JSON"), undefined);
    }
  });

  // Refusals are counted here, in this plugin only: a bad signature, else a body that is not the
  // documented JSON (parse or schema errors). Outages (5xx) are not a webhook outcome.
  app.addHook("onError", async (_request, _reply, err) => {
    const code = err instanceof ApiError ? err.code : "";
    const status = err instanceof ApiError ? err.status : (err as { statusCode?: number }).statusCode;
    if (code === "missing_signature" || code === "invalid_signature" || code === "timestamp_out_of_range") metrics.paymentWebhooks.inc({ result: code });
    else if (status === 400 || status === 422) metrics.paymentWebhooks.inc({ result: "malformed" });
  });

  app.post(
    "/api/payments/webhook",
    {
      // Before schema validation: a forged request learns nothing about the body it should have sent.
      preValidation: async (request) => {
        const sig = request.headers["payment-signature"];
        verifyPaymentSignature(typeof sig === "string" ? sig : undefined, request.rawBody ?? "", app.deps.config.PAYMENT_WEBHOOK_SECRET);
      },
      schema: {
        tags: ["payments"],
        summary: "Payment confirmation (signed webhook)",
        description: "Header `Payment-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">` with PAYMENT_WEBHOOK_SECRET.",
        body: PaymentWebhookBody,
        response: { 200: PaymentWebhookResponse, ...errorResponses(400, 422) },
      },
    },
    async (request) => {
      const b = request.body;
      const r = await confirmPayment(app.orders, { paymentId: b.payment_id, orderId: b.order_id.toLowerCase(), amount: b.amount, currency: b.currency, status: b.status, ...(b.event_id !== undefined ? { eventId: b.event_id } : {}) });
      metrics.paymentWebhooks.inc({ result: r.duplicate ? "duplicate" : r.result });
      return { result: r.result, duplicate: r.duplicate, order_id: b.order_id, order_status: r.order?.status ?? null, note: r.note };
    },
  );
};
