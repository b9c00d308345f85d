import { randomBytes } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { ChatBus, findOrCreateRoom, syncRoom, type RoomLifecycleDeps } from "@seatdrop/chat";
import { events, tickets } from "@seatdrop/db";
import { createLogger } from "@seatdrop/observability";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

/** Helpers of the chat tests: events with rooms, tickets, and the room lifecycle driven as the worker drives it. */

/** An event (no seat map) starting `startInMs` from now, with its room. */
export async function createChatEvent(env: TestEnv, o: { startInMs?: number; durationMs?: number; name?: string } = {}): Promise<{ eventId: string; roomId: string }> {
  const start = Date.now() + (o.startInMs ?? 3_600_000);
  const [row] = await env.db.db
    .insert(events)
    .values({ name: o.name ?? "Chat test", description: "a chat test event", location: "Test hall", startTime: new Date(start), endTime: new Date(start + (o.durationMs ?? 3_600_000)) })
    .returning({ id: events.id });
  const room = await findOrCreateRoom({ db: env.db.db, eventId: row!.id });
  return { eventId: row!.id, roomId: room!.id };
}

/** Issues a ticket, optionally already assigned to a user. */
export async function issueTicket(env: TestEnv, eventId: string, userId: string | null = null): Promise<{ id: string; number: string }> {
  const number = `T-${randomBytes(5).toString("hex")}`;
  const [row] = await env.db.db.insert(tickets).values({ eventId, ticketNumber: number, userId }).returning({ id: tickets.id });
  return { id: row!.id, number };
}

export function lifecycleDeps(env: TestEnv): RoomLifecycleDeps {
  return { db: env.db.db, bus: new ChatBus(env.redis, env.keys), logger: createLogger("test", "silent"), activateBeforeMs: env.config.CHAT_ACTIVATE_BEFORE_MS };
}

/** Puts the room in the state its schedule says (what the worker's jobs do at their time). */
export function syncEventRoom(env: TestEnv, eventId: string) {
  return syncRoom(lifecycleDeps(env), eventId);
}

/**
 * The set-up of a room lifecycle test with no nodes: a private environment and the lifecycle's deps
 * over it, made before the file's tests and closed after them.
 */
export function useLifecycleEnv() {
  const t = { env: undefined as unknown as TestEnv, deps: undefined as unknown as RoomLifecycleDeps };
  beforeAll(async () => {
    t.env = await createTestEnv();
    t.deps = lifecycleDeps(t.env);
  });
  afterAll(async () => {
    await t.env?.close();
  });
  return t;
}
