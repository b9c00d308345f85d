/**
 * `npm run cluster:redis [-- --port 7001]`: a local Redis Cluster of three masters and three
 * replicas (Debian's redis-server and redis-cli) on ports 7001–7006, for trying the cluster on
 * Redis Cluster: it prints the REDIS_CLUSTER_NODES to give `npm start`, runs until Ctrl-C, then
 * stops every node and removes their data (no persistence: this is for development and tests).
 */
import { parseArgs } from "node:util";
import { startRedisCluster } from "../test/support/redis-cluster.ts";

const { values } = parseArgs({ options: { port: { type: "string", default: "7001" } } });
const base = Number(values.port);
if (!Number.isInteger(base) || base < 1 || base > 65529) {
  console.error(`--port must be a port number (the first of six), not ${values.port}`);
  process.exit(2);
}
const cluster = await startRedisCluster({ ports: Array.from({ length: 6 }, (_, i) => base + i) }).catch((err: Error) => {
  console.error(`could not start the cluster: ${err.message}\n(needs redis-server and redis-cli: apt-get install redis-server redis-tools; ports ${base}–${base + 5} free)`);
  process.exit(1);
});
console.log(`Redis Cluster up: 3 masters and 3 replicas on 127.0.0.1:${base}–${base + 5}.`);
console.log(`Start the cluster on it with:\n\n  REDIS_CLUSTER_NODES=${cluster.seeds} npm start\n\nCtrl-C stops every node and removes their data.`);
const stop = async () => {
  await cluster.stop();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
