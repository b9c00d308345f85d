import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { ChatError, storeMessage, syncRoom } from "@seatdrop/chat";
import { events, messageArchive, messages, tickets } from "@seatdrop/db";
import { createUser } from "../../../test/support/cluster.ts";
import { createChatEvent, useLifecycleEnv } from "../../../apps/ws-node/test/chat-support.ts";

const lc = useLifecycleEnv();

describe("closing a room while members post", () => {
  it("archives every message stored before the close and stores none after it: nothing is lost or half-moved", async () => {
    const { eventId, roomId } = await createChatEvent(lc.env, { startInMs: 60_000, name: "race" });
    expect(await syncRoom(lc.deps, eventId)).toBe("activated");
    const user = await createUser(lc.env);
    await lc.env.db.db.insert(tickets).values({ eventId, ticketNumber: `T-${user.id}`, userId: user.id });

    const post = (i: number) =>
      storeMessage({ db: lc.env.db.db, roomId, userId: user.id, content: `m${i}`, contentType: "text" }).then(
        (m) => ({ ok: true as const, id: m.id }),
        (err: unknown) => {
          if (err instanceof ChatError && err.reason === "chat_inactive") return { ok: false as const };
          throw err;
        },
      );
    // Ten are stored before the close begins (so the archive has something to keep whatever the race
    // does), fifty are in flight while it runs.
    const before = await Promise.all(Array.from({ length: 10 }, (_, i) => post(i)));
    expect(before.every((r) => r.ok)).toBe(true);
    const posts = [...before.map((r) => Promise.resolve(r)), ...Array.from({ length: 50 }, (_, i) => post(10 + i))];
    // The event ends now, while the posts are in flight.
    await lc.env.db.db.update(events).set({ startTime: new Date(Date.now() - 7_200_000), endTime: new Date(Date.now() - 1) }).where(eq(events.id, eventId));
    const closing = syncRoom(lc.deps, eventId);
    const results = await Promise.all(posts);
    expect(await closing).toBe("closed");

    const stored = results.filter((r) => r.ok).map((r) => (r as { id: string }).id);
    expect(stored.length).toBeGreaterThanOrEqual(10);
    // Every post either reached the archive or was refused with chat_inactive: none vanished.
    expect(stored.length + results.filter((r) => !r.ok).length).toBe(60);
    const live = await lc.env.db.db.select({ id: messages.id }).from(messages).where(eq(messages.chatRoomId, roomId));
    const archived = await lc.env.db.db.select({ id: messageArchive.id }).from(messageArchive).where(eq(messageArchive.chatRoomId, roomId));
    expect(live).toEqual([]);
    expect(archived.map((a) => a.id).sort()).toEqual(stored.sort());
    // Closing again is a no-op; the archive keeps its messages once.
    expect(await syncRoom(lc.deps, eventId)).toBe("unchanged");
    expect(await lc.env.db.db.select().from(messageArchive).where(eq(messageArchive.chatRoomId, roomId))).toHaveLength(stored.length);
  });

  it("a member whose ticket was voided (a refund) can no longer write", async () => {
    const { eventId, roomId } = await createChatEvent(lc.env, { startInMs: 60_000, name: "refund" });
    expect(await syncRoom(lc.deps, eventId)).toBe("activated");
    const user = await createUser(lc.env);
    const [t] = await lc.env.db.db.insert(tickets).values({ eventId, ticketNumber: `V-${user.id}`, userId: user.id }).returning();
    await storeMessage({ db: lc.env.db.db, roomId, userId: user.id, content: "before", contentType: "text" });
    await lc.env.db.db.update(tickets).set({ status: "void" }).where(eq(tickets.id, t!.id));
    await expect(storeMessage({ db: lc.env.db.db, roomId, userId: user.id, content: "after", contentType: "text" })).rejects.toMatchObject({ reason: "ticket_void" });
  });
});

