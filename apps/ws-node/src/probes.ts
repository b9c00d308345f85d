import type { HttpResponse, TemplatedApp } from "uWebSockets.js";
import type { Config } from "@seatdrop/config";
import { metricsAuthorized, metricsContentType, metricsText } from "@seatdrop/observability";
import type { Redis } from "@seatdrop/redis";
import type { Subscriber } from "./fanout/subscriber.ts";

function json(res: HttpResponse, status: string, body: unknown): void {
  res.cork(() => {
    res.writeStatus(status).writeHeader("content-type", "application/json").end(JSON.stringify(body));
  });
}

/**
 * The node's HTTP routes beside its two socket paths: `/healthz` (the process answers), `/readyz`
 * (the load balancer's check: 503 while draining or while the Redis command or subscriber
 * connection is not ready), `/metrics` (behind METRICS_TOKEN), and a 404 naming the socket paths
 * for anything else.
 */
export function mountProbes(
  app: TemplatedApp,
  o: { nodeId: string; config: Config; redis: Redis; subscriber: Subscriber; isDraining: () => boolean },
): void {
  const { nodeId } = o;
  app.get("/healthz", (res) => json(res, "200 OK", { status: "ok", node: nodeId }));
  app.get("/readyz", (res) => {
    const draining = o.isDraining();
    const ok = !draining && o.redis.status === "ready" && o.subscriber.status === "ready";
    json(res, ok ? "200 OK" : "503 Service Unavailable", { status: ok ? "ready" : draining ? "draining" : "redis_unavailable", node: nodeId });
  });
  app.get("/metrics", (res, req) => {
    if (!metricsAuthorized(req.getHeader("authorization"), o.config.METRICS_TOKEN))
      return json(res, "401 Unauthorized", { error: "unauthorized", message: "metrics need Authorization: Bearer <METRICS_TOKEN>" });
    let aborted = false;
    res.onAborted(() => (aborted = true));
    void metricsText("ws-node").then((text) => {
      if (!aborted)
        res.cork(() => {
          res.writeHeader("content-type", metricsContentType).end(text);
        });
    });
  });
  app.any("/*", (res) => json(res, "404 Not Found", { error: "not_found", message: "WebSocket paths: /socket/websocket (Phoenix), / (legacy seat dialect)" }));
}
