import type { Config } from "@seatdrop/config";
import { metrics, type Logger } from "@seatdrop/observability";
import { CloseCode } from "@seatdrop/protocol";
import { endConn, type Conn } from "./conn.ts";
import type { LocalRegistry } from "./registry.ts";

/**
 * A draining batch closes only after its sockets were silent this long: a push sent just before the
 * close (still in the kernel's buffer or on the wire) is then read and answered, not dropped.
 */
const DRAIN_QUIET_MS = 50;
/** How long one Redis-dependent teardown step of a drain (chat presence, the job queue) may take before the drain goes on without it. */
const TEARDOWN_STEP_MS = 3000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The sockets' side of a drain (WsNode.drain): from its start /readyz answers 503 and upgrades are
 * refused (`draining`); after the notice period the open sockets close with 1001 in jittered
 * batches, each once its replies are out. Every frame a socket sends is `track`ed for that.
 */
export class SocketDrain {
  private started = false;
  // Work each socket still has in flight (a join or push being answered), so a drain closes a
  // socket only once its replies are out.
  private readonly inflight = new WeakMap<Conn, Set<Promise<unknown>>>();
  // When each socket last sent a frame: a drain waits for a short quiet spell, so frames already on
  // their way (in the kernel's buffer, or sent one round trip ago) are read and answered first.
  private readonly lastFrameAt = new WeakMap<Conn, number>();

  constructor(private readonly o: { config: Config; registry: LocalRegistry; logger: Logger }) {}

  /** True from the start of a drain. */
  get draining(): boolean {
    return this.started;
  }

  /** `conn` sent a frame; `p` is the work it started that is still being answered, if any. */
  track(conn: Conn, p: Promise<unknown> | undefined): void {
    this.lastFrameAt.set(conn, Date.now());
    if (!p) return;
    let set = this.inflight.get(conn);
    if (!set) this.inflight.set(conn, (set = new Set()));
    set.add(p);
    const done = () => set.delete(p);
    p.then(done, done);
  }

  /** Starts the drain, waits `noticeMs`, then closes every open socket, WS_DRAIN_BATCH at a time. */
  async closeSockets(noticeMs: number): Promise<void> {
    const { config, registry, logger } = this.o;
    this.started = true;
    metrics.wsDraining.set(1);
    logger.info({ noticeMs, sockets: registry.conns.size }, "draining: /readyz answers 503, new sockets refused");
    if (noticeMs > 0) await sleep(noticeMs);
    const all = [...registry.conns.values()];
    for (let i = 0; i < all.length; i += config.WS_DRAIN_BATCH) {
      await this.closeBatch(all.slice(i, i + config.WS_DRAIN_BATCH));
      // Jitter, so the clients of successive batches do not reconnect in lockstep.
      if (i + config.WS_DRAIN_BATCH < all.length) await sleep(config.WS_DRAIN_PAUSE_MS * (0.5 + Math.random()));
    }
    // Sockets that raced in before the first batch (an upgrade verified just before the drain).
    await this.closeBatch([...registry.conns.values()]);
  }

  /**
   * Closes a batch once none of its sockets has a reply pending and none sent a frame for
   * DRAIN_QUIET_MS (or WS_DRAIN_INFLIGHT_MS passed).
   */
  private async closeBatch(batch: Conn[]): Promise<void> {
    const until = Date.now() + this.o.config.WS_DRAIN_INFLIGHT_MS;
    for (;;) {
      const pending = batch.flatMap((c) => (c.closed ? [] : [...(this.inflight.get(c) ?? [])]));
      const quietFor = Date.now() - Math.max(0, ...batch.map((c) => this.lastFrameAt.get(c) ?? 0));
      // Checked and closed in the same tick: no new push can start between the check and the close.
      if ((pending.length === 0 && quietFor >= DRAIN_QUIET_MS) || Date.now() >= until) break;
      if (pending.length > 0) await Promise.race([Promise.allSettled(pending), sleep(until - Date.now())]);
      else await sleep(Math.min(DRAIN_QUIET_MS - quietFor, until - Date.now()));
    }
    for (const c of batch) endConn(c, CloseCode.goingAway, "node draining; reconnect");
  }
}

/**
 * Waits for one teardown step that needs Redis, at most TEARDOWN_STEP_MS; a failure or a timeout is
 * logged, and the drain goes on.
 */
export async function teardownStep(work: Promise<unknown>, what: string, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    work.then(() => "done", (err: unknown) => (logger.warn({ err }, `${what} failed`), "failed")),
    new Promise<string>((r) => (timer = setTimeout(() => r("timed out"), TEARDOWN_STEP_MS))),
  ]);
  clearTimeout(timer);
  if (outcome === "timed out") logger.warn({ ms: TEARDOWN_STEP_MS }, `${what} did not finish; going on`);
}
