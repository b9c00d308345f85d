/**
 * The cost of one best-available push on a big event: ws-node CPU and Redis CPU per call.
 *
 *   npx tsx scripts/best-available-cost.ts [--calls 300] [--count 4] [--taken 0.3]
 *
 * A 20,000-seat event (20 sections × 40 rows × 25 seats) in a private PostgreSQL database and a
 * private redis-server on a free port (so `INFO commandstats` counts only this script), with a
 * `--taken` share of its seats sold at random. Then `--calls` buyers, one after another, each ask
 * SeatService.bestAvailable for `--count` seats. Prints, per call: this process's CPU (the map
 * read, the ranking, the call), the ranking alone, and Redis's µs for the map read (HKEYS) and the
 * lock script (EVALSHA).
 */
import { parseArgs } from "node:util";
import { events, seats as seatsTable } from "@seatdrop/db";
import { createLogger } from "@seatdrop/observability";
import { SeatService, findBlocks } from "@seatdrop/seats";
import { freePort, startRedis } from "../test/support/private-redis.ts";
import { createTestEnv } from "../test/support/test-env.ts";

const { values } = parseArgs({ options: { calls: { type: "string", default: "300" }, count: { type: "string", default: "4" }, taken: { type: "string", default: "0.3" } } });
const calls = Number(values.calls);
const count = Number(values.count);

const port = await freePort();
const server = await startRedis(port);
const env = await createTestEnv({ REDIS_URL: `redis://127.0.0.1:${port}`, HOLD_RELOCK_COOLDOWN_MS: "0" });
try {
  const seats = new SeatService({ redis: env.redis, keys: env.keys, config: env.config, logger: createLogger("best-cost", "silent"), db: env.db.db });
  const [event] = await env.db.db
    .insert(events)
    .values({ name: "cost", description: "best-available cost", location: "x", startTime: new Date(Date.now() + 86_400_000), endTime: new Date(Date.now() + 90_000_000), holdMaxSeats: 10 })
    .returning();
  const eventId = event!.id;
  const rows: { eventId: string; seatId: string; section: string; row: string; number: number; priceCents: number }[] = [];
  for (let s = 1; s <= 20; s++) for (let r = 1; r <= 40; r++) for (let n = 1; n <= 25; n++) rows.push({ eventId, seatId: `S${s}_${r}_${n}`, section: `S${s}`, row: String(r), number: n, priceCents: 5000 });
  for (let i = 0; i < rows.length; i += 5000) await env.db.db.insert(seatsTable).values(rows.slice(i, i + 5000));
  await seats.events.ensureEventLoaded(eventId);
  const sold = rows.filter(() => Math.random() < Number(values.taken)).map((r) => ({ seatId: r.seatId, orderId: "00000000-0000-4000-8000-000000000001", userId: "sold", paid: true }));
  await seats.events.rebuildState(eventId, sold);
  const layout = (await seats.layouts!.get(eventId))!; // warm: the layout is kept per event

  const stats = async () => {
    const info = await env.redis.info("commandstats");
    const usec = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=\\d+,usec=(\\d+)`).exec(info)?.[1] ?? 0);
    return { hkeys: usec("hkeys"), evalsha: usec("evalsha") };
  };
  const before = await stats();
  const cpu0 = process.cpuUsage();
  let locked = 0;
  for (let i = 0; i < calls; i++) {
    const r = await seats.bestAvailable({ eventId, userId: `buyer-${i}`, count });
    locked += r.seats.length;
  }
  const cpu = process.cpuUsage(cpu0);
  const after = await stats();

  // A plain lock of one seat per buyer, on the same map, for scale.
  const free = layout.rows.flatMap((r) => r.seats.map((x) => x.id)).filter((id) => !(sold.some((x) => x.seatId === id)));
  const lockBefore = await stats();
  for (let i = 0; i < calls; i++) await seats.lock({ eventId, userId: `single-${i}`, seatId: free[free.length - 1 - i]! });
  const lockAfter = await stats();

  // The ranking alone, on the map as it is now.
  const taken = new Set(await env.redis.hkeys(env.keys.event(eventId).state));
  const t0 = process.cpuUsage();
  for (let i = 0; i < calls; i++) findBlocks(layout, (id) => taken.has(id), { count, limit: 8 });
  const rank = process.cpuUsage(t0);
  // The map read alone (HKEYS and its set), as each call does it.
  const t1 = process.cpuUsage();
  for (let i = 0; i < calls; i++) new Set(await env.redis.hkeys(env.keys.event(eventId).state));
  const read = process.cpuUsage(t1);

  const per = (us: number) => (us / calls).toFixed(0);
  console.log(`event: ${rows.length} seats, ${sold.length} sold at start; ${calls} calls of count ${count}, ${locked} seats locked`);
  console.log(`node CPU per call (user+system): ${per(cpu.user + cpu.system)} µs; the ranking alone: ${per(rank.user + rank.system)} µs; the map read alone: ${per(read.user + read.system)} µs`);
  console.log(`Redis per call: HKEYS ${per(after.hkeys - before.hkeys)} µs, EVALSHA (lock script) ${per(after.evalsha - before.evalsha)} µs; a plain one-seat lock's EVALSHA: ${per(lockAfter.evalsha - lockBefore.evalsha)} µs`);
} finally {
  await env.close();
  server.kill("SIGKILL");
}
