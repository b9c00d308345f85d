/**
 * `npm test`: every test file on the local Redis, then the suites that touch Redis the most (seats,
 * orders, chat, the waiting room, expiry, faults) again on a Redis Cluster of three masters and
 * three replicas that this script starts on free ports and removes afterwards, so a change that
 * works on one Redis but not across shards (a key outside its slot, a multi-key command spanning
 * slots, a script key it did not declare) fails here. `npm test -- <files or vitest options>` runs only vitest with those arguments,
 * on the local Redis; `TEST_REDIS_CLUSTER=0` skips the cluster pass.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startRedisCluster } from "../test/support/redis-cluster.ts";

/** Run again on the cluster. Left out: files that start their own standalone redis-server, and fault tests that kill a node's connection by CLIENT LIST (the cluster's equivalent is a failover). */
const CLUSTER_SUITES = [
  "libs/seats/test",
  "libs/orders/test",
  "libs/chat/test",
  "libs/queue/test",
  "libs/auth/test",
  "apps/worker/test",
  "apps/api/test/orders",
  "apps/api/test/seat-map-read",
  "apps/api/test/waiting-room-api",
  "apps/ws-node/test/seat-",
  "apps/ws-node/test/chat-",
  "apps/ws-node/test/hold-",
  "apps/ws-node/test/waiting-room",
  "apps/ws-node/test/contention",
  "apps/ws-node/test/feed-gap-repair",
  "apps/ws-node/test/trimmed-log",
  "apps/ws-node/test/subscriber.test",
  "test/seat-batch-kill",
  "test/lua-declared-keys",
];

const vitest = fileURLToPath(new URL("../node_modules/vitest/vitest.mjs", import.meta.url));
const run = (args: string[], env: NodeJS.ProcessEnv) =>
  new Promise<number>((resolve) => spawn(process.execPath, [vitest, "run", ...args], { stdio: "inherit", env }).on("exit", (code) => resolve(code ?? 1)));

const args = process.argv.slice(2);
const standalone = await run(args, process.env);
if (standalone !== 0 || args.length > 0 || process.env.TEST_REDIS_CLUSTER === "0") process.exit(standalone);

console.log("\n[test] again on a local Redis Cluster (3 masters, 3 replicas): seats, orders, chat, waiting room, expiry, faults");
const cluster = await startRedisCluster();
let code = 1;
try {
  code = await run(CLUSTER_SUITES, { ...process.env, REDIS_CLUSTER_NODES: cluster.seeds });
} finally {
  await cluster.stop();
}
process.exit(code);
