export { createLogger, type Logger } from "./logger.ts";
export { metrics, metricsText, metricsContentType } from "./metrics.ts";
