import { ConfigError, loadConfig, type Config } from "@seatdrop/config";
import { createLogger, logFormat, type Logger } from "./logger.ts";

/** What a started app gives back: how to stop it on SIGTERM and on SIGINT. */
export interface RunningApp {
  /** Called once, on the first SIGTERM or SIGINT; the process exits 0 when it resolves, 1 when it throws. */
  stop(signal: "SIGTERM" | "SIGINT"): Promise<void>;
  /** Exit 1 anyway when stopping takes longer than this (none: wait, e.g. for a ws-node's drain notice). */
  stopTimeoutMs?: number;
}

/**
 * The start-up and shutdown every app process shares (apps/*\/src/main.ts): the config (a bad one
 * exits 2 with a message naming the variable), the root logger, a stray promise rejection logged
 * instead of crashing (it would drop every socket and job of the process), a failed start exiting 1,
 * and SIGTERM/SIGINT calling `stop` once; a second signal exits at once. Started by `npm start`
 * (SDC_SUPERVISOR_PID), it also stops as on SIGTERM when that supervisor is gone.
 */
export async function runApp(name: string, start: (o: { config: Config; logger: Logger }) => Promise<RunningApp>): Promise<void> {
  const supervisor = watchSupervisor(name);
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${name}: ${err.message}\n`);
    process.exit(2);
  }
  const logger = createLogger(name, config.LOG_LEVEL, undefined, logFormat(config));
  const log = logger.child({ module: "main" });
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled promise rejection"));
  let app: RunningApp;
  try {
    app = await start({ config, logger });
  } catch (err) {
    log.error({ err }, `${name} failed to start`);
    process.stderr.write(`${name} failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  }
  let stopping = false;
  const onSignal = (signal: "SIGTERM" | "SIGINT") => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "shutting down");
    if (app.stopTimeoutMs !== undefined)
      setTimeout(() => {
        log.error("shutdown timed out; exiting");
        process.exit(1);
      }, app.stopTimeoutMs).unref();
    app.stop(signal).then(
      () => {
        log.info("stopped");
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, "error during shutdown");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  supervisor.started(() => {
    if (stopping) return; // already draining: let it finish
    log.warn("npm start's supervisor is gone; stopping as on SIGTERM");
    onSignal("SIGTERM");
  });
}

/**
 * A child of `npm start` runs in its own process group, so a supervisor killed outright (SIGKILL,
 * the OOM killer) passes no signal on: its children would serve on with nobody to stop them. They
 * notice being adopted (their parent pid changes): one still starting exits at once (it serves
 * nothing yet), a started one calls `onGone`. Only under the supervisor (SDC_SUPERVISOR_PID):
 * elsewhere (a container, systemd) the parent is whatever runs the process and stays.
 */
function watchSupervisor(name: string): { started(onGone: () => void): void } {
  const supervisor = Number(process.env.SDC_SUPERVISOR_PID);
  let onGone: (() => void) | undefined;
  if (!supervisor) return { started() {} };
  const check = () => {
    if (process.ppid === supervisor) return;
    clearInterval(timer);
    if (onGone) return onGone();
    process.stderr.write(`${name}: npm start's supervisor (pid ${supervisor}) is gone; exiting\n`);
    process.exit(1);
  };
  const timer = setInterval(check, 500);
  timer.unref();
  check();
  return {
    started(fn) {
      onGone = fn;
      check();
    },
  };
}
