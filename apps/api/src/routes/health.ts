import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { sql } from "drizzle-orm";

/** A dependency check gives up after this long: a readiness probe must answer even when a server hangs. */
const CHECK_TIMEOUT_MS = 2000;

const CheckState = Type.Unsafe<"ok" | "down">({ type: "string", enum: ["ok", "down"] });
const Checks = Type.Object({ postgres: CheckState, redis: CheckState });
const Ready = Type.Object({ status: Type.Literal("ok"), checks: Checks });
const NotReady = Type.Object({ status: Type.Literal("unavailable"), error: Type.String(), message: Type.String(), checks: Checks });

/**
 * Liveness (`/healthz`: the process answers) and readiness (`/readyz`: PostgreSQL and Redis answer
 * too). A load balancer takes a node out on 503 from readyz, an orchestrator restarts it only when
 * healthz fails, so an outage of a shared store does not restart every API process at once.
 */
export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const log = app.deps.logger.child({ module: "health" });

  app.get(
    "/healthz",
    { schema: { tags: ["ops"], summary: "Liveness", response: { 200: Type.Object({ status: Type.Literal("ok") }) } } },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/readyz",
    { schema: { tags: ["ops"], summary: "Readiness: PostgreSQL and Redis reachable", response: { 200: Ready, 503: NotReady } } },
    async (_request, reply) => {
      const [postgres, redis] = await Promise.all([
        check(() => app.deps.db.db.execute(sql`select 1`)),
        check(() => app.deps.redis.ping()),
      ]);
      const checks = { postgres: postgres ? "ok" : "down", redis: redis ? "ok" : "down" } as const;
      if (postgres && redis) return reply.code(200).send({ status: "ok", checks });
      log.warn({ checks }, "not ready");
      const down = Object.entries(checks).filter(([, s]) => s === "down").map(([name]) => name);
      return reply.code(503).send({ status: "unavailable", error: "not_ready", message: `not reachable: ${down.join(", ")}`, checks });
    },
  );
};

async function check(probe: () => Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([probe().then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
