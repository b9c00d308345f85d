import { afterAll, beforeAll } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { buildApp, type ApiApp } from "../../apps/api/src/app.ts";
import { PhxClient, bounded, startCluster, type TestCluster } from "./cluster.ts";
import { RawPhx, phxUrl } from "./raw-phx.ts";
import { createTestEnv, type TestEnv } from "./test-env.ts";

/**
 * The usual test file set-up: a private environment and a two-node cluster with the worker, started
 * before the file's tests and torn down after them, with every Phoenix client the tests opened.
 * `overrides` may be a function, read when the environment is made (after the file's earlier
 * beforeAll hooks, such as one starting a Redis Cluster whose address it names).
 * A file's own afterAll hooks run before this one's (vitest runs after-hooks as a stack), so they
 * may still close their sockets while the cluster is up.
 */
export function useCluster(overrides: Record<string, string> | (() => Record<string, string>) = {}, opts: { nodes?: number; worker?: boolean } = {}) {
  const clients: PhxClient[] = [];
  const raws: RawPhx[] = [];
  const world = {
    env: undefined as unknown as TestEnv,
    cluster: undefined as unknown as TestCluster,
    /** A stock Phoenix client connected to node `node` (0 or 1), closed after the file. */
    client(node: number, token?: string): PhxClient {
      const c = new PhxClient(world.cluster.nodes[node]!.port, token);
      clients.push(c);
      return c;
    },
    /** A raw Phoenix socket on node `node` with `token`, open; closed after the file. */
    async socket(node: number, token: string): Promise<RawPhx> {
      const c = new RawPhx(phxUrl(world.cluster.nodes[node]!.port, { token }));
      raws.push(c);
      await c.opened();
      return c;
    },
  };
  beforeAll(async () => {
    world.env = await createTestEnv(typeof overrides === "function" ? overrides() : overrides);
    world.cluster = await startCluster(world.env, opts);
  });
  afterAll(async () => {
    // Each step bounded, and named when it overran: after a test that killed Redis Cluster masters,
    // the teardown overran the hook's 60 s twice in about fifteen runs, with no sign of which step.
    raws.forEach((r) => r.close());
    await bounded("clients' disconnect", Promise.all(clients.map((c) => c.disconnect())));
    await bounded("ws-nodes' and worker's close", world.cluster?.close());
    await bounded("test env's close", world.env?.close());
  }, 90_000);
  return world;
}


/**
 * `useCluster` plus the API on the same environment, driven with `inject()` (its seat calls go
 * straight to Redis, as in production). The API closes before the cluster does.
 */
export function useClusterWithApi(overrides: Record<string, string> = {}, opts: { nodes?: number; worker?: boolean } = {}) {
  const world = Object.assign(useCluster(overrides, opts), { app: undefined as unknown as ApiApp });
  beforeAll(async () => {
    const { env } = world;
    world.app = buildApp({ config: env.config, db: env.db, redis: env.redis, keys: env.keys, logger: createLogger("api-test", "silent") });
    await world.app.ready();
  });
  afterAll(async () => {
    await world.app?.close();
  });
  return world;
}
