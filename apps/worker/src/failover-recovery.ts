import { ChatBus } from "@seatdrop/chat";
import type { Config } from "@seatdrop/config";
import type { Db } from "@seatdrop/db";
import type { Logger } from "@seatdrop/observability";
import { isCluster, scanMaster, watchShardFailovers, type Keys, type Redis, type ShardFailover } from "@seatdrop/redis";
import type { SeatService } from "@seatdrop/seats";
import { handleHoldReindex } from "./jobs/hold-sweep.ts";

/**
 * A Redis Cluster shard failed over, handled like a Redis restart of that shard: its replica is
 * asynchronous, so what the master acknowledged last (a lock, an unlock, a reservation, a chat
 * message) may be missing now, and the history nodes and clients hold may run past what Redis has.
 * Every event found on the promoted master gets a new epoch and its reserved and paid seats back
 * from PostgreSQL (`SeatService.restartEpoch`: watchers resync, each holder learns from the
 * snapshot whether their hold survived), each chat room starts a new epoch, and the cluster-wide
 * hold index is rebuilt (its key may live on that shard). One worker claims each failover.
 * Nothing on a standalone Redis: a restart there is noticed by the events' missing meta hashes.
 */
const REANNOUNCE_AFTER_MS = 3000;

export function startFailoverRecovery(o: { config: Config; redis: Redis; keys: Keys; seats: SeatService; db: Db; logger: Logger }): { stop(): void } | null {
  const { redis, keys, seats, logger } = o;
  if (!isCluster(redis)) return null;
  const chat = new ChatBus(redis, keys);
  const recover = async (f: ShardFailover) => {
    const claim = keys.failoverClaim(`${f.slots.map(([a, b]) => `${a}-${b}`).join(",")}:${f.to}`);
    if ((await redis.set(claim, "1", "PX", 60_000, "NX")) !== "OK") return; // another worker has it
    const events = (await scanMaster(redis, f.to, keys.eventMetaPattern)).flatMap((k) => keys.eventOfMeta(k) ?? []);
    logger.warn({ from: f.from, to: f.to, slots: f.slots, events: events.length }, "redis shard failed over: its events get a new epoch and are rebuilt from PostgreSQL");
    let restarted = 0;
    for (const eventId of events) {
      try {
        if (await seats.events.restartEpoch(eventId)) restarted++;
        await chat.restartEpoch(eventId);
      } catch (err) {
        logger.error({ err, eventId }, "epoch restart after a failover failed (the minute's seat rebuild job retries the seats)");
      }
    }
    await handleHoldReindex(seats, o.db);
    // Nodes learn the new epoch from the announcement (or, if their sharded subscriber was still
    // moving to the promoted replica, from the check they make once it is back). Announced again a
    // few seconds later for a node whose subscriber came back between its check and the first one.
    await new Promise((r) => setTimeout(r, REANNOUNCE_AFTER_MS));
    for (const eventId of events) await seats.events.announceEpoch(eventId).catch(() => {});
    logger.info({ to: f.to, restarted }, "failover handled");
  };
  return watchShardFailovers(redis, {
    everyMs: o.config.REDIS_FAILOVER_CHECK_MS,
    onFailover: (f) => recover(f).catch((err: unknown) => logger.error({ err, ...f }, "failover recovery failed")),
    onError: (err) => logger.warn({ err }, "reading the cluster's shards failed"),
  });
}
