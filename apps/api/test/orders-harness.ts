import { createHmac } from "node:crypto";
import { OrderJobs } from "@seatdrop/jobs";
import { createLogger } from "@seatdrop/observability";
import { connectRedis } from "@seatdrop/redis";
import { buildApp, type ApiApp } from "../src/app.ts";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";
import { startCluster, type TestCluster } from "../../../test/support/cluster.ts";

/** The API (inject) plus two real ws-nodes and the worker, on one private test environment. */
export interface OrdersWorld {
  env: TestEnv;
  app: ApiApp;
  cluster: TestCluster;
  close(): Promise<void>;
}

export async function startOrdersWorld(overrides: Record<string, string> = {}): Promise<OrdersWorld> {
  const env = await createTestEnv(overrides);
  const cluster = await startCluster(env);
  const bull = connectRedis(env.config, "bullmq");
  const orderJobs = new OrderJobs(bull, env.keys.bullPrefix);
  const app = buildApp({ config: env.config, db: env.db, redis: env.redis, keys: env.keys, logger: createLogger("api-test", env.config.LOG_LEVEL), seats: cluster.seats, orderJobs });
  await app.ready();
  return {
    env,
    app,
    cluster,
    async close() {
      await app.close();
      await orderJobs.close();
      bull.disconnect();
      await cluster.close();
      await env.close();
    },
  };
}

/** Signs a webhook body the way the payment provider does (Stripe's scheme). */
export function signWebhook(body: string, secret: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
}

export async function postWebhook(app: ApiApp, secret: string, body: Record<string, unknown>, opts: { t?: number; signature?: string } = {}) {
  const raw = JSON.stringify(body);
  return app.inject({
    method: "POST",
    url: "/api/payments/webhook",
    headers: { "content-type": "application/json", "payment-signature": opts.signature ?? signWebhook(raw, secret, opts.t) },
    payload: raw,
  });
}

export const auth = (token: string) => ({ authorization: `Bearer ${token}` });
