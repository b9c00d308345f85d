import type { Channel } from "phoenix";
import { SeatMapFollower } from "@seatdrop/protocol";
import type { HoldView } from "@seatdrop/seats";
import type { PhxClient } from "./cluster.ts";

/**
 * A stock phoenix client following one event's seat map (per-change events) across reconnects, as
 * a real page does: every rejoin sends the last `seq` it applied and its epoch, and the map is
 * rebuilt from each join reply (a snapshot, or the events since `last_seq`) and kept by the pushes.
 * The fault tests (drain, kill -9) compare `view` with Redis at the end and read how each client
 * came back.
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
  /** The lowest seq the map holds (0 before the first join reply). */
  readonly lastSeq: number;
  /** When the first rejoin's reply came (ms since the epoch). */
  rejoinedAt?: number;
  /** The seats this client's map shows taken. */
  readonly view: Set<string>;
}

/** Joins `seats:<eventId>` on `client` and keeps the returned follower's map and counters up to date. */
export async function followSeatMap(client: PhxClient, userId: string, eventId: string): Promise<MapFollower> {
  // The map and the position are the shared follower's (libs/protocol map-follower.js), as the page keeps them.
  const map = new SeatMapFollower();
  const w: MapFollower = {
    userId,
    client,
    channel: undefined as unknown as Channel,
    opens: 0,
    closeCodes: [],
    errors: 0,
    joinModes: [],
    joinHolds: [],
    get lastSeq() {
      return map.lastSeq ?? 0;
    },
    get view() {
      return new Set(map.seats.keys());
    },
  };
  client.socket.onOpen(() => void w.opens++);
  client.socket.onClose((e: unknown) => void w.closeCodes.push((e as { code: number }).code));
  client.socket.onError(() => void w.errors++);
  // The stock client re-reads the params on each rejoin: it sends the last seq (and epoch) this client applied.
  const channel = client.socket.channel(`seats:${eventId}`, () => map.rejoinParams());
  channel.onMessage = (event: string, payload: any) => {
    if (event === "phx_reply" && payload?.status === "ok" && payload.response?.mode) {
      const r = payload.response;
      w.joinModes.push(r.mode);
      w.joinHolds.push((r.hold as HoldView | null)?.seats ?? []);
      if (w.joinModes.length === 2) w.rejoinedAt = Date.now();
      map.join(r);
    } else if (event === "phx_error") map.leave();
    else if (!event.startsWith("phx_") && !event.startsWith("chan_reply_")) map.apply(event, payload);
    return payload;
  };
  await new Promise((resolve, reject) => channel.join().receive("ok", resolve).receive("error", reject).receive("timeout", reject));
  w.channel = channel;
  return w;
}
