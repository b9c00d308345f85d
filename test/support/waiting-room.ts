import { randomUUID } from "node:crypto";
import type { WaitingRoomRecord } from "@seatdrop/db";
import { newRoomSecrets } from "@seatdrop/queue";
import type { SeatService } from "@seatdrop/seats";
import { createEvent, type EventSettings } from "./cluster.ts";
import type { TestEnv } from "./test-env.ts";

/**
 * An event with a waiting room, as the API creates one: the room's secrets made once, the pre-queue
 * opening at `opensAt`, the draw at `salesOpenAt`.
 */
export async function createRoomEvent(
  env: TestEnv,
  seatIds: string[],
  o: { opensAt: Date; salesOpenAt: Date; turnMs?: number; maxActive?: number | null; powBits?: number } & EventSettings,
): Promise<{ eventId: string; room: WaitingRoomRecord }> {
  const { opensAt, turnMs, maxActive, powBits, ...settings } = o;
  const room: WaitingRoomRecord = { ...newRoomSecrets(), opens_at: opensAt.toISOString(), turn_ms: turnMs ?? 600_000, max_active: maxActive ?? null, pow_bits: powBits ?? 0 };
  const eventId = await createEvent(env, seatIds, { ...settings, waitingRoom: room });
  return { eventId, room };
}

/** A buyer's order as the order path makes it in Redis: the hold reserved under an order id, then paid. */
export async function buyHold(seats: SeatService, eventId: string, userId: string): Promise<string[]> {
  const orderId = randomUUID();
  const r = await seats.reserveHold({ eventId, userId, orderId });
  for (const seatId of r.seats) await seats.setSeatState({ eventId, seatId, action: "pay", orderId, userId });
  return r.seats;
}

/** Spearman's rank correlation of two equally long lists of distinct numbers. */
export function spearman(a: number[], b: number[]): number {
  const rank = (xs: number[]) => {
    const order = xs.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(xs.length);
    order.forEach(([, i], k) => (r[i] = k));
    return r;
  };
  const ra = rank(a);
  const rb = rank(b);
  const n = a.length;
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (ra[i]! - rb[i]!) ** 2;
  return 1 - (6 * d2) / (n * (n * n - 1));
}
