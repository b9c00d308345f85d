import { performance } from "node:perf_hooks";

/** Runs `f` over `items`, at most `concurrency` at a time. */
export async function pool<T>(items: T[], concurrency: number, f: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (i < items.length) await f(items[i++]!);
    }),
  );
}

/**
 * The stock client's heartbeat (every 25 s, under Phoenix's 30 s), for every client a generator
 * holds, so a long scenario is not closed as idle. Started once per generator process.
 */
export function keepAlive(clients: () => Iterable<{ closed: boolean; ws?: { send(data: string): void } }>): NodeJS.Timeout {
  return setInterval(() => {
    for (const c of clients()) if (!c.closed && c.ws) c.ws.send('[null,"hb","phoenix","heartbeat",{}]');
  }, 25_000);
}

/** A generator's client: opened (a socket), then joined (its first topic). */
interface Joinable {
  closed: boolean;
  open(): Promise<unknown>;
  join(): Promise<boolean>;
}

/** Opens every client (phase 1, timed), then makes each one's first join (phase 2, timed). */
export async function openAndJoin(fresh: Joinable[], concurrency: number): Promise<{ failed: number; refused: number; connectMs: number; joinMs: number }> {
  let failed = 0;
  const t0 = performance.now();
  await pool(fresh, concurrency, async (c) => {
    try {
      await c.open();
    } catch {
      failed++;
      c.closed = true;
    }
  });
  const t1 = performance.now();
  let refused = 0;
  await pool(
    fresh.filter((c) => !c.closed),
    concurrency,
    async (c) => {
      if (!(await c.join())) refused++;
    },
  );
  return { failed, refused, connectMs: t1 - t0, joinMs: performance.now() - t1 };
}
