import uWS from "uWebSockets.js";
import { ConfigError, loadConfig } from "@seatdrop/config";
import { createLogger, metricsContentType, metricsText } from "@seatdrop/observability";
import { startWorker } from "./worker.ts";

const logger = createLogger("worker");
// A stray rejection is a bug to log, not a reason to drop every socket and job of this process.
process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled promise rejection"));
try {
  const config = loadConfig();
  const worker = await startWorker({ config, logger });
  // A tiny HTTP side for probes and Prometheus; the worker has no other port.
  const port = config.WORKER_PORT;
  const app = uWS.App()
    .get("/healthz", (res) => {
      res.writeHeader("content-type", "application/json").end(JSON.stringify({ status: worker.isReady() ? "ok" : "starting" }));
    })
    .get("/metrics", (res) => {
      let aborted = false;
      res.onAborted(() => (aborted = true));
      void metricsText().then((t) => {
        if (!aborted)
          res.cork(() => {
            res.writeHeader("content-type", metricsContentType).end(t);
          });
      });
    });
  app.listen(config.HOST, port, (s) => {
    if (!s) logger.error({ port }, "worker health port is taken");
    else logger.info({ port }, `worker ready; health on http://${config.HOST}:${port}/healthz`);
  });
  const stop = () => {
    worker.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`worker: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
