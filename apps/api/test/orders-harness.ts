import { createHmac } from "node:crypto";
import { afterAll, beforeAll, expect } from "vitest";
import { OrderJobs } from "@seatdrop/jobs";
import { createLogger } from "@seatdrop/observability";
import { connectRedis } from "@seatdrop/redis";
import { buildApp, type ApiApp } from "../src/app.ts";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";
import { PhxClient, createUser, push, startCluster, type TestCluster } from "../../../test/support/cluster.ts";

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

/**
 * The usual set-up of an orders test file: the world started before the file's tests and closed
 * after them, with every stock Phoenix client the tests opened through `client`.
 */
export function useOrdersWorld(overrides: Record<string, string> = {}) {
  const clients: PhxClient[] = [];
  const use = {
    w: undefined as unknown as OrdersWorld,
    /** A stock Phoenix client on node `node`, disconnected after the file. */
    client(node: number, token?: string): PhxClient {
      const c = new PhxClient(use.w.cluster.nodes[node]!.port, token);
      clients.push(c);
      return c;
    },
    secret: () => use.w.env.config.PAYMENT_WEBHOOK_SECRET,
  };
  beforeAll(async () => {
    use.w = await startOrdersWorld(overrides);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.disconnect()));
    await use.w?.close();
  });
  return use;
}

/** A new user locks `seat` over a stock client on node 0 and orders it: the pending order (201). */
export async function pendingOrderOf(use: ReturnType<typeof useOrdersWorld>, eventId: string, seat: string) {
  const user = await createUser(use.w.env);
  const j = await use.client(0, user.token).join(`seats:${eventId}`);
  expect((await push(j.channel, "lock", { seat })).status).toBe("ok");
  const res = await use.w.app.inject({ method: "POST", url: "/api/orders", headers: auth(user.token), payload: { event_id: eventId } });
  expect(res.statusCode).toBe(201);
  return { user, order: res.json() as { id: string; expires_at: string; total_cents: number } };
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
