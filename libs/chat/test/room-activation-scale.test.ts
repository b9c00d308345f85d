import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { syncRoom } from "@seatdrop/chat";
import { notifications } from "@seatdrop/db";
import { createChatEvent, useLifecycleEnv } from "../../../apps/ws-node/test/chat-support.ts";

const lc = useLifecycleEnv();

describe("activating the room of a big event", () => {
  it("notifies 25,000 ticket holders (more than one INSERT's 65,534 parameters allow at 3 a row)", async () => {
    // Starts within the activation lead: the room opens now.
    const { eventId } = await createChatEvent(lc.env, { startInMs: 60_000, name: "stadium" });
    await lc.env.db.db.execute(sql`
      with u as (
        insert into users (username, email, password_hash)
        select 'fan' || g, 'fan' || g || '@example.com', 'scrypt$unused' from generate_series(1, 25000) g
        returning id
      )
      insert into tickets (event_id, ticket_number, user_id)
      select ${eventId}::uuid, 'T-' || u.id, u.id from u`);
    expect(await syncRoom(lc.deps, eventId)).toBe("activated");
    const [row] = await lc.env.db.db.select({ n: sql<number>`count(*)::int` }).from(notifications).where(eq(notifications.eventId, eventId));
    expect(row!.n).toBe(25_000);
  }, 60_000);
});
