import { describe, expect, it } from "vitest";
import { isRedisUnavailable } from "@seatdrop/redis";

describe("isRedisUnavailable", () => {
  it("is true for an unreachable Redis and for a Redis Cluster failing a shard over, false for a refused command", () => {
    const unavailable = [
      Object.assign(new Error("Reached the max retries per request limit (which is 3)."), { name: "MaxRetriesPerRequestError" }),
      new Error("Connection is closed."),
      new Error("CLUSTERDOWN The cluster is down"),
      new Error("TRYAGAIN Multiple keys request during rehashing of slot"),
      new Error("MOVED 7559 127.0.0.1:37897"),
      new Error("Too many Cluster redirections. Last error: Error: Connection is closed."),
      new Error("wrapped", { cause: new Error("CLUSTERDOWN The cluster is down") }),
    ];
    for (const e of unavailable) expect(isRedisUnavailable(e), e.message).toBe(true);
    for (const e of [new Error("WRONGTYPE Operation against a key holding the wrong kind of value"), new Error("ERR unknown command"), null, "MOVED"]) expect(isRedisUnavailable(e)).toBe(false);
  });
});
