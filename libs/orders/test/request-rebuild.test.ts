import { describe, expect, it, vi } from "vitest";
import { OrderJobs } from "@seatdrop/jobs";
import { createLogger, metrics } from "@seatdrop/observability";
import { requestRebuild } from "../src/request-rebuild.ts";
import { connectRedis } from "@seatdrop/redis";
import type { OrdersContext } from "../src/context.ts";

describe("requestRebuild", () => {
  it("a rebuild that cannot be queued is logged and counted, and does not throw", async () => {
    // A real connection to a port nothing listens on: the queue add fails as it would in an outage.
    const dead = connectRedis("redis://127.0.0.1:1", "command", { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    dead.on("error", () => {});
    const jobs = new OrderJobs(dead, "sdct-dead");
    const logger = createLogger("test", "silent");
    const logged = vi.spyOn(logger, "error");
    const ctx = { jobs, logger } as unknown as OrdersContext;
    const before = (await metrics.seatRebuildRequestsFailed.get()).values[0]?.value ?? 0;
    await expect(requestRebuild(ctx, "11111111-1111-4111-8111-111111111111", "test")).resolves.toBeUndefined();
    expect((await metrics.seatRebuildRequestsFailed.get()).values[0]?.value).toBe(before + 1);
    expect(logged).toHaveBeenCalledWith(expect.objectContaining({ why: "test" }), expect.stringContaining("could not queue a seat-map rebuild"));
    await jobs.close().catch(() => undefined);
    dead.disconnect();
  });
});
