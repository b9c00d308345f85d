import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { connectRedis, type Redis } from "@seatdrop/redis";
import { readSequencedRange, seqOfEntry } from "../src/log-range.ts";

/**
 * The seat log and the chat room log are streams with ids `<seq>-1`, trimmed from the front. A
 * reader asking for a range the log no longer reaches must get null (the caller then takes a
 * snapshot) without pulling the whole log through Redis first (docs/reliability.md, round one, the
 * suspected finding of a join with an old `last_seq` that read up to 10,000 entries and threw them
 * away).
 */
let redis: Redis;
const key = `sdct${randomBytes(5).toString("hex")}:seqlog`;
const TOTAL = 1000;
let oldest = 0;
/** How many entries every XRANGE since the last reset returned, in total. */
let entriesRead = 0;

beforeAll(async () => {
  redis = connectRedis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const p = redis.pipeline();
  for (let seq = 1; seq <= TOTAL; seq++) p.xadd(key, "MAXLEN", "~", 100, `${seq}-1`, "d", `{"seq":${seq}}`);
  await p.exec();
  const first = (await redis.xrange(key, "-", "+", "COUNT", 1)) as [string, string[]][];
  oldest = seqOfEntry(first[0]!);
  const realXrange = redis.xrange.bind(redis) as (...a: unknown[]) => Promise<unknown[]>;
  vi.spyOn(redis, "xrange").mockImplementation(((...args: unknown[]) =>
    realXrange(...args).then((r) => {
      entriesRead += r.length;
      return r;
    })) as typeof redis.xrange);
});
afterAll(async () => {
  await redis.del(key);
  redis.disconnect();
});

const read = async (from: number, to?: number) => {
  entriesRead = 0;
  const out = await readSequencedRange(redis, key, from, to);
  return { seqs: out?.map(seqOfEntry) ?? null, entriesRead };
};

describe("readSequencedRange on a trimmed log", () => {
  it("the log really was trimmed from the front", () => {
    expect(oldest).toBeGreaterThan(1);
    expect(oldest).toBeLessThanOrEqual(TOTAL - 99); // MAXLEN ~ keeps at least the 100 asked for
  });

  it("a range starting before the oldest entry is null after reading one entry, not the whole log", async () => {
    expect(await read(1)).toEqual({ seqs: null, entriesRead: 1 });
    expect(await read(1, TOTAL)).toEqual({ seqs: null, entriesRead: 1 });
    expect(await read(oldest - 1, TOTAL)).toEqual({ seqs: null, entriesRead: 1 });
  });

  it("a range the log still holds is read whole, in order", async () => {
    const wide = await read(oldest);
    expect(wide.seqs).toEqual(Array.from({ length: TOTAL - oldest + 1 }, (_, i) => oldest + i));
    const narrow = await read(TOTAL - 9, TOTAL);
    expect(narrow).toEqual({ seqs: Array.from({ length: 10 }, (_, i) => TOTAL - 9 + i), entriesRead: 10 });
  });

  it("nothing logged at or after `from` is an empty list; a narrow trimmed range is null", async () => {
    expect((await read(TOTAL + 1)).seqs).toEqual([]);
    expect((await read(TOTAL + 1, TOTAL + 5)).seqs).toEqual([]);
    expect((await read(1, 10)).seqs).toEqual([]); // nothing left in 1..10 at all: the caller compares with the current seq
    expect((await read(oldest - 5, oldest + 5)).seqs).toBeNull();
  });
});
