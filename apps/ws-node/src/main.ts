import { ConfigError, loadConfig } from "@seatdrop/config";
import { connectDb, migrateWhenReachable } from "@seatdrop/db";
import { createLogger } from "@seatdrop/observability";
import { startWsNode } from "./node.ts";

const logger = createLogger("ws-node");
// A stray rejection is a bug to log, not a reason to drop every socket and job of this process.
process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled promise rejection"));
try {
  const config = loadConfig();
  // The schema first (idempotent, serialised across processes): a node may start before the API.
  const db = connectDb(config.DATABASE_URL, { max: 2 });
  await migrateWhenReachable(db, { logger });
  await db.close();
  const node = await startWsNode({ config, logger });
  logger.info({ port: node.port, nodeId: node.nodeId }, `ws-node ready on ws://${config.HOST}:${node.port}/socket/websocket`);
  // SIGTERM (a deploy, `docker stop`, the supervisor) drains with the notice period the load
  // balancer needs; Ctrl-C stops at once. Either way the sockets close with 1001.
  const stop = (how: "drain" | "close") => () => {
    (how === "drain" ? node.drain() : node.close()).then(() => process.exit(0), () => process.exit(1));
  };
  process.once("SIGTERM", stop("drain"));
  process.once("SIGINT", stop("close"));
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`ws-node: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
