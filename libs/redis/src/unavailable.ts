/**
 * Whether an error means Redis could not be reached: ioredis gave up on a command after its retries
 * (`MaxRetriesPerRequestError`), or the connection was closed under it, or a Redis Cluster was
 * failing a shard over (`CLUSTERDOWN`, `TRYAGAIN`, a `MOVED` not yet followed, ioredis' "Too many
 * Cluster redirections"), as opposed to a command Redis refused. The API answers such a
 * failure 503 with `Retry-After`, as an outage, never 500 (docs/reliability.md, round two,
 * finding 8).
 */
export function isRedisUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { name?: unknown; message?: unknown };
    if (x.name === "MaxRetriesPerRequestError") return true;
    if (typeof x.message === "string" && UNAVAILABLE.test(x.message)) return true;
  }
  return false;
}

const UNAVAILABLE = /^(Connection is closed\.|Stream isn't writeable and enableOfflineQueue options is false|CLUSTERDOWN |TRYAGAIN |MOVED \d+ |Too many Cluster redirections)/;
