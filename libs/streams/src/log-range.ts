import type { Redis } from "@seatdrop/redis";

/** A range this wide or narrower is read at once: probing it first would cost more than it saves. */
const PROBE_ABOVE = 64;

/** An entry of a sequenced log: its id `<seq>-1` and its fields. */
export type LogEntry = [id: string, fields: string[]];

/** A log entry's fields as a map (XADD's field-value pairs). */
export function entryFields(entry: LogEntry): Record<string, string> {
  const fields = entry[1];
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return f;
}

/** The sequence number of a log entry's id `<seq>-1`. */
export function seqOfEntry(entry: LogEntry): number {
  return Number(entry[0].slice(0, entry[0].indexOf("-")));
}

/**
 * Entries `from..to` (to the end when `to` is undefined) of a stream whose ids are `<seq>-1` and
 * which is trimmed from the front (`XADD … MAXLEN ~`): the seat log and the chat room log. Null when
 * the log no longer reaches back to `from`; an empty list when nothing is logged at or after it.
 *
 * A wide range is probed with its first entry before it is read: read whole, a join with an old
 * `last_seq` on a trimmed log would pull up to EVENT_LOG_MAX entries (10,000 by default, about a
 * megabyte through Redis) only to find the first was missing and throw them all away.
 */
export async function readSequencedRange(redis: Redis, key: string, from: number, to?: number): Promise<LogEntry[] | null> {
  const start = `${from}-1`;
  const end = to === undefined ? "+" : `${to}-1`;
  if (to === undefined || to - from + 1 > PROBE_ABOVE) {
    const first = (await redis.xrange(key, start, end, "COUNT", 1)) as LogEntry[];
    if (first.length === 0) return [];
    if (seqOfEntry(first[0]!) !== from) return null;
  }
  const entries = (await redis.xrange(key, start, end)) as LogEntry[];
  if (entries.length === 0) return [];
  return seqOfEntry(entries[0]!) === from ? entries : null;
}
