import { connectDb, migrateWhenReachable } from "@seatdrop/db";
import { runApp } from "@seatdrop/observability";
import { describeRedis } from "@seatdrop/redis";
import { startWsNode } from "./node.ts";

await runApp("ws-node", async ({ config, logger }) => {
  // The schema first (idempotent, serialised across processes): a node may start before the API.
  const db = connectDb(config.DATABASE_URL, { max: 2 });
  await migrateWhenReachable(db, { logger });
  await db.close();
  const node = await startWsNode({ config, logger });
  logger.info({ port: node.port, nodeId: node.nodeId, redis: describeRedis(config) }, `ws-node ready on ws://${config.HOST}:${node.port}/socket/websocket`);
  // SIGTERM (a deploy, `docker stop`, the supervisor) drains with the notice period the load
  // balancer needs; Ctrl-C stops at once. Either way the sockets close with 1001.
  return { stop: (signal) => (signal === "SIGTERM" ? node.drain() : node.close()) };
});
