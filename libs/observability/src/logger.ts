import { pino, type Logger } from "pino";

export type { Logger };

/** One pino root logger per process; modules take `logger.child({ module })`. */
export function createLogger(app: string, level: string = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({ name: app, level, base: { app, pid: process.pid } });
}
