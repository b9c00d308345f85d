/**
 * A process that does nothing but group-committed seat transitions for one event, as fast as it can,
 * until it is killed (test/seat-batch-kill.test.ts kills it with -9 while its batches are in flight).
 * Each of USERS buyers loops: lock a random seat; when granted, unlock it again.
 * Writes "ready" on stdout once its first transition was answered.
 *
 *   REDIS_URL=… REDIS_PREFIX=… EVENT_ID=… SEATS=40 USERS=64 node --import tsx test/support/transition-spammer.ts
 */
import { loadConfig } from "@seatdrop/config";
import { createLogger } from "@seatdrop/observability";
import { connectRedis, createKeys } from "@seatdrop/redis";
import { SeatError, SeatService } from "@seatdrop/seats";

const config = loadConfig({ ...process.env, LOG_LEVEL: "silent" });
const redis = connectRedis(config);
const seats = new SeatService({ redis, keys: createKeys(config.REDIS_PREFIX), config, logger: createLogger("spammer", "silent") });
const eventId = process.env.EVENT_ID!;
const seatCount = Number(process.env.SEATS ?? 40);
const users = Number(process.env.USERS ?? 64);
let ready = false;

async function buyer(i: number): Promise<void> {
  const userId = `spam-${i}`;
  for (;;) {
    const seatId = `K_${1 + Math.floor(Math.random() * seatCount)}`;
    try {
      await seats.lock({ eventId, userId, seatId, origin: `spammer:${i}` });
      await seats.unlock({ eventId, userId, seatId, origin: `spammer:${i}` });
    } catch (err) {
      if (!(err instanceof SeatError)) throw err;
    }
    if (!ready) {
      ready = true;
      process.stdout.write("ready\n");
    }
  }
}

await Promise.all(Array.from({ length: users }, (_, i) => buyer(i)));
