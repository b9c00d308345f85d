import { Counter, Gauge, Histogram, collectDefaultMetrics, register } from "prom-client";

collectDefaultMetrics();

/** Every Prometheus metric of the project, declared once so names never drift between apps. */
export const metrics = {
  wsConnections: new Gauge({ name: "sdc_ws_connections", help: "Open WebSocket connections", labelNames: ["dialect"] }),
  wsFramesIn: new Counter({ name: "sdc_ws_frames_in_total", help: "Frames received", labelNames: ["dialect"] }),
  wsFrameErrors: new Counter({ name: "sdc_ws_frame_errors_total", help: "Frames refused", labelNames: ["reason"] }),
  wsBackpressureDrops: new Counter({ name: "sdc_ws_backpressure_closes_total", help: "Sockets closed as slow consumers" }),
  seatOps: new Counter({ name: "sdc_seat_ops_total", help: "Seat operations by result", labelNames: ["op", "result"] }),
  seatOpSeconds: new Histogram({
    name: "sdc_seat_op_seconds",
    help: "Seat script round trip",
    labelNames: ["op"],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  }),
  fanoutEvents: new Counter({ name: "sdc_fanout_events_total", help: "Seat events fanned out by this node" }),
  fanoutGaps: new Counter({ name: "sdc_fanout_gaps_total", help: "Sequence gaps repaired from the event log" }),
  wsDraining: new Gauge({ name: "sdc_ws_draining", help: "1 while this ws-node drains (SIGTERM)" }),
  subscribedEvents: new Gauge({ name: "sdc_subscribed_events", help: "Event channels this node subscribes to" }),
  holdsExpired: new Counter({ name: "sdc_holds_released_total", help: "Holds released by the worker", labelNames: ["reason"] }),
  httpRequests: new Counter({ name: "sdc_http_requests_total", help: "HTTP requests", labelNames: ["route", "status"] }),
};

export const metricsContentType = register.contentType;
export function metricsText(): Promise<string> {
  return register.metrics();
}
