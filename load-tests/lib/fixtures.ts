/** Users and events for the benchmark, inserted in bulk (one row at a time is minutes at 15,000 users). */
import { randomUUID } from "node:crypto";
import { createTokenSigner } from "@seatdrop/auth";
import { events, seats as seatsTable, users, type WaitingRoomRecord } from "@seatdrop/db";
import type { TestEnv } from "../../test/support/test-env.ts";

export interface BenchUser {
  id: string;
  token: string;
}

export async function createUsers(env: TestEnv, n: number): Promise<BenchUser[]> {
  const signer = createTokenSigner(env.config);
  const out: BenchUser[] = [];
  for (let i = 0; i < n; i += 2000) {
    const rows = Array.from({ length: Math.min(2000, n - i) }, () => {
      const id = randomUUID();
      return { id, username: `b-${id}`, email: `${id}@bench.local`, passwordHash: "scrypt$unused", role: "user" as const };
    });
    await env.db.db.insert(users).values(rows);
    for (const r of rows) out.push({ id: r.id, token: await signer.sign({ sub: r.id, role: "user" }) });
  }
  return out;
}

export interface EventOptions {
  holdTtlMs?: number;
  holdMaxSeats?: number;
  maxSeatsPerUser?: number;
  /** Locks are refused before it; an event with a waiting room draws its pre-queue then. */
  salesOpenAt?: Date;
  /** `events.waiting_room` (load-tests/queue-bench.ts). */
  waitingRoom?: WaitingRoomRecord;
}

/** An event whose seats are `ids`; a seat id `<section>_<row>_<n>` also fills section, row and number. */
export async function createEvent(env: TestEnv, ids: string[], o: EventOptions = {}): Promise<string> {
  return env.db.db.transaction(async (tx) => {
    const [row] = await tx
      .insert(events)
      .values({ name: "Bench drop", description: "npm run bench", location: "127.0.0.1", startTime: new Date(Date.now() + 86_400_000), endTime: new Date(Date.now() + 90_000_000), ...o })
      .returning();
    for (let i = 0; i < ids.length; i += 5000) {
      await tx.insert(seatsTable).values(
        ids.slice(i, i + 5000).map((seatId) => {
          const parts = seatId.split("_");
          const [section, r, n] = parts.length === 3 ? parts : [null, parts[0] ?? null, parts[1]];
          return { eventId: row!.id, seatId, section, row: r ?? null, number: n ? Number(n) : null, priceCents: 1000 };
        }),
      );
    }
    return row!.id;
  });
}

/** `sections` × `rows` × `perRow` seat ids, sections named S01, S02, … */
export function venue(sections: number, rows: number, perRow: number): string[] {
  const out: string[] = [];
  for (let s = 1; s <= sections; s++) for (let r = 1; r <= rows; r++) for (let n = 1; n <= perRow; n++) out.push(`S${String(s).padStart(2, "0")}_${r}_${n}`);
  return out;
}

/** `n` seat ids without sections: R1_1 … R1_50, R2_1 … */
export const plainSeats = (n: number) => Array.from({ length: n }, (_, i) => `R${Math.floor(i / 50) + 1}_${(i % 50) + 1}`);

export const sectionNames = (sections: number) => Array.from({ length: sections }, (_, s) => `S${String(s + 1).padStart(2, "0")}`);
