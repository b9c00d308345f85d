import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatBus, findOrCreateRoom, syncRoom, type RoomLifecycleDeps } from "@seatdrop/chat";
import { events, notifications } from "@seatdrop/db";
import { createLogger } from "@seatdrop/observability";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

let env: TestEnv;
let deps: RoomLifecycleDeps;
beforeAll(async () => {
  env = await createTestEnv();
  deps = { db: env.db.db, bus: new ChatBus(env.redis, env.keys), logger: createLogger("test", "silent"), activateBeforeMs: env.config.CHAT_ACTIVATE_BEFORE_MS };
});
afterAll(async () => {
  await env.close();
});

describe("activating the room of a big event", () => {
  it("notifies 25,000 ticket holders (more than one INSERT's 65,534 parameters allow at 3 a row)", async () => {
    const start = Date.now() + 60_000; // within the activation lead: the room opens now
    const [ev] = await env.db.db
      .insert(events)
      .values({ name: "stadium", description: "", location: "here", startTime: new Date(start), endTime: new Date(start + 3_600_000) })
      .returning({ id: events.id });
    await findOrCreateRoom({ db: env.db.db, eventId: ev!.id });
    await env.db.db.execute(sql`
      with u as (
        insert into users (username, email, password_hash)
        select 'fan' || g, 'fan' || g || '@example.com', 'scrypt$unused' from generate_series(1, 25000) g
        returning id
      )
      insert into tickets (event_id, ticket_number, user_id)
      select ${ev!.id}::uuid, 'T-' || u.id, u.id from u`);
    expect(await syncRoom(deps, ev!.id)).toBe("activated");
    const [row] = await env.db.db.select({ n: sql<number>`count(*)::int` }).from(notifications).where(eq(notifications.eventId, ev!.id));
    expect(row!.n).toBe(25_000);
  }, 60_000);
});
