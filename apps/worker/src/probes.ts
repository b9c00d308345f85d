import { Queue } from "bullmq";
import uWS, { type HttpResponse } from "uWebSockets.js";
import type { Config } from "@seatdrop/config";
import type { DbHandle } from "@seatdrop/db";
import { HOLDS_QUEUE, ORDERS_QUEUE, ROOMS_QUEUE } from "@seatdrop/jobs";
import { QUEUE_STATES, metrics, metricsAuthorized, metricsContentType, metricsText, zeroCounter, type Logger } from "@seatdrop/observability";
import { createKeys, type Redis } from "@seatdrop/redis";
import type { WorkerHandle } from "./worker.ts";

export interface WorkerProbes {
  port: number;
  close(): Promise<void>;
}

/**
 * The worker's only port: `/healthz` (200 once the worker runs its jobs, 503 "starting" before),
 * `/readyz` (running, and Redis and PostgreSQL answer) and `/metrics` (behind METRICS_TOKEN, with
 * the queues' depth and delay read from Redis at scrape time). It opens before the worker starts,
 * so an orchestrator sees "starting" while the migrations run and the schedulers are set up.
 */
export async function startWorkerProbes(o: { config: Config; logger: Logger; redis: Redis; db: DbHandle; worker: () => WorkerHandle | undefined; port?: number }): Promise<WorkerProbes> {
  const { config, logger, redis, db } = o;
  const keys = createKeys(config.REDIS_PREFIX);
  const queues = [HOLDS_QUEUE, ORDERS_QUEUE, ROOMS_QUEUE].map((name) => new Queue(name, { connection: redis, prefix: keys.bullPrefix }));
  zeroCounter(metrics.queueJobsFailed, { queue: queues.map((q) => q.name) });
  const json = (res: HttpResponse, aborted: () => boolean, status: string, body: unknown) => {
    if (!aborted())
      res.cork(() => {
        res.writeStatus(status).writeHeader("content-type", "application/json").end(JSON.stringify(body));
      });
  };
  /** Queue depth and delay, read from Redis when Prometheus scrapes. */
  const readQueues = async () => {
    await Promise.all(
      queues.map(async (q) => {
        const counts = await q.getJobCounts(...QUEUE_STATES);
        for (const state of QUEUE_STATES) metrics.queueJobs.set({ queue: q.name, state }, counts[state] ?? 0);
        const [oldest] = await q.getWaiting(0, 0);
        metrics.queueOldestWaitingSeconds.set({ queue: q.name }, oldest ? Math.max(0, (Date.now() - oldest.timestamp) / 1000) : 0);
      }),
    );
  };
  const app = uWS
    .App()
    .get("/healthz", (res) => {
      let aborted = false;
      res.onAborted(() => (aborted = true));
      const ok = o.worker()?.isReady() ?? false;
      json(res, () => aborted, ok ? "200 OK" : "503 Service Unavailable", { status: ok ? "ok" : "starting" });
    })
    .get("/readyz", (res) => {
      let aborted = false;
      res.onAborted(() => (aborted = true));
      if (!o.worker()?.isReady()) return json(res, () => aborted, "503 Service Unavailable", { status: "starting" });
      const check = (p: Promise<unknown>) =>
        Promise.race([p.then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), 2000).unref())]);
      void Promise.all([check(redis.ping()), check(db.sql`select 1`)]).then(([r, pg]) => {
        const checks = { redis: r ? "ok" : "down", postgres: pg ? "ok" : "down" };
        json(res, () => aborted, r && pg ? "200 OK" : "503 Service Unavailable", { status: r && pg ? "ok" : "unavailable", checks });
      });
    })
    .get("/metrics", (res, req) => {
      let aborted = false;
      res.onAborted(() => (aborted = true));
      if (!metricsAuthorized(req.getHeader("authorization"), config.METRICS_TOKEN))
        return json(res, () => aborted, "401 Unauthorized", { error: "unauthorized", message: "metrics need Authorization: Bearer <METRICS_TOKEN>" });
      void readQueues()
        .catch((err: unknown) => logger.warn({ err }, "could not read the queues for /metrics"))
        .then(() => metricsText("worker"))
        .then((t) => {
          if (!aborted)
            res.cork(() => {
              res.writeHeader("content-type", metricsContentType).end(t);
            });
        });
    });
  const listen = await new Promise<uWS.us_listen_socket | false>((r) => app.listen(config.HOST, o.port ?? config.WORKER_PORT, r));
  if (!listen) throw new Error(`worker health port ${o.port ?? config.WORKER_PORT} is taken`);
  const port = uWS.us_socket_local_port(listen);
  logger.info({ port }, `worker health on http://${config.HOST}:${port}/healthz`);
  return {
    port,
    async close() {
      uWS.us_listen_socket_close(listen);
      await Promise.all(queues.map((q) => q.close()));
    },
  };
}

