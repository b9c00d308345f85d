import { ConfigError, loadConfig } from "@seatdrop/config";
import { createLogger } from "@seatdrop/observability";
import { startWsNode } from "./node.ts";

const logger = createLogger("ws-node");
// A stray rejection is a bug to log, not a reason to drop every socket and job of this process.
process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled promise rejection"));
try {
  const config = loadConfig();
  const node = await startWsNode({ config, logger });
  logger.info({ port: node.port, nodeId: node.nodeId }, `ws-node ready on ws://${config.HOST}:${node.port}/socket/websocket`);
  const stop = () => {
    node.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`ws-node: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
