import type { Conn } from "./conn.ts";
import type { NodeContext } from "./context.ts";

/**
 * Bookkeeping shared by both dialects when a connection starts or stops watching an event:
 * the local registry, the feed's reference count and the user's liveness for abandoned holds.
 */
export function startWatching(ctx: NodeContext, conn: Conn, eventId: string): void {
  const first = ctx.registry.add(eventId, conn);
  if (first && conn.userId) {
    ctx.seats.holds.markLive(eventId, ctx.nodeId, [conn.userId], ctx.config.WS_LIVE_WINDOW_MS).catch((err: unknown) => ctx.logger.warn({ err, eventId }, "markLive failed"));
  }
}

/** Undo of startWatching. The feed reference is not touched: whoever acquired it releases it. */
export function stopWatching(ctx: NodeContext, conn: Conn, eventId: string): void {
  const last = ctx.registry.remove(eventId, conn);
  if (last && conn.userId) {
    ctx.seats.holds.markGone(eventId, ctx.nodeId, conn.userId).catch((err: unknown) => ctx.logger.warn({ err, eventId }, "markGone failed"));
  }
}
