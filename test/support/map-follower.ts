import type { Channel } from "phoenix";
import type { HoldView } from "@seatdrop/seats";
import type { PhxClient } from "./cluster.ts";

/**
 * A stock phoenix client following one event's seat map across reconnects, as a real page does:
 * every rejoin sends the last `seq` it applied, and the map is rebuilt from each join reply (a
 * snapshot, or the events since `last_seq`) and kept by the pushes. The fault tests (drain, kill -9)
 * compare `view` with Redis at the end and read how each client came back.
 */
export interface MapFollower {
  userId: string;
  client: PhxClient;
  channel: Channel;
  opens: number;
  closeCodes: number[];
  errors: number;
  /** Join replies (the first join, then each rejoin): their `mode`, and the hold each reported. */
  joinModes: string[];
  joinHolds: string[][];
  lastSeq: number;
  /** When the first rejoin's reply came (ms since the epoch). */
  rejoinedAt?: number;
  /** The seats this client's map shows taken. */
  view: Set<string>;
}

/** Joins `seats:<eventId>` on `client` and keeps the returned follower's map and counters up to date. */
export async function followSeatMap(client: PhxClient, userId: string, eventId: string): Promise<MapFollower> {
  const w: MapFollower = { userId, client, channel: undefined as unknown as Channel, opens: 0, closeCodes: [], errors: 0, joinModes: [], joinHolds: [], lastSeq: 0, view: new Set() };
  client.socket.onOpen(() => void w.opens++);
  client.socket.onClose((e: unknown) => void w.closeCodes.push((e as { code: number }).code));
  client.socket.onError(() => void w.errors++);
  // The stock client re-reads the params on each rejoin: it sends the last seq this client applied.
  const channel = client.socket.channel(`seats:${eventId}`, () => (w.lastSeq > 0 ? { last_seq: w.lastSeq } : {}));
  channel.onMessage = (event: string, payload: any) => {
    if (event === "phx_reply" && payload?.status === "ok" && payload.response?.mode) {
      const r = payload.response;
      w.joinModes.push(r.mode);
      w.joinHolds.push((r.hold as HoldView | null)?.seats ?? []);
      if (w.joinModes.length === 2) w.rejoinedAt = Date.now();
      if (r.mode === "snapshot") {
        w.view = new Set(Object.entries(r.seats as Record<string, string>).filter(([, st]) => st !== "available").map(([s]) => s));
      } else for (const ev of r.events as { event: string; seat?: string; seats?: string[] }[]) applyToView(w.view, ev.event, ev);
      w.lastSeq = r.seq;
    } else if (!event.startsWith("phx_") && !event.startsWith("chan_reply_")) {
      applyToView(w.view, event, payload);
      if (typeof payload?.seq === "number") w.lastSeq = Math.max(w.lastSeq, payload.seq);
    }
    return payload;
  };
  await new Promise((resolve, reject) => channel.join().receive("ok", resolve).receive("error", reject).receive("timeout", reject));
  w.channel = channel;
  return w;
}

function applyToView(view: Set<string>, event: string, p: { seat?: string; seats?: string[] }): void {
  if ((event === "locked" || event === "lockedForYou" || event === "reserved" || event === "paid") && p.seat) view.add(p.seat);
  else if ((event === "unlocked" || event === "unlockedForYou") && p.seat) view.delete(p.seat);
  else if (event === "deleted") for (const s of p.seats ?? []) view.delete(s);
}
