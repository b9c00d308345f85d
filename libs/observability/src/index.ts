export { createLogger, logFormat, type Logger } from "./logger.ts";
export {
  metrics,
  metricsText,
  metricsContentType,
  metricsAuthorized,
  startStorePings,
  zeroCounter,
  dropError,
  joinRefusal,
  DROPPED_WHERE,
  type DroppedWhere,
  FRAME_REFUSALS,
  HOLD_RELEASE_PATHS,
  HOLD_RELEASE_REASONS,
  QUEUE_STATES,
  type AppName,
} from "./metrics.ts";
export { runApp, type RunningApp } from "./process.ts";
