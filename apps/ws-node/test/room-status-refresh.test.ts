import { describe, expect, it } from "vitest";
import type { ChatBus } from "@seatdrop/chat";
import { createLogger } from "@seatdrop/observability";
import type { RoomStatus } from "@seatdrop/protocol";
import { RoomFeed } from "../src/chat/room-feeds.ts";

describe("a room feed's status", () => {
  it("is corrected from PostgreSQL when the announcement of a change was lost", async () => {
    let recorded: RoomStatus = "inactive"; // what PostgreSQL says
    const bus = { currentSeq: async () => ({ seq: 0, epoch: null }), presenceSnapshot: async () => ({ seq: 0, epoch: null, entries: [] }) } as unknown as ChatBus;
    const feed = new RoomFeed("ev", bus, async () => recorded, () => {}, () => {}, createLogger("test", "silent"), Promise.resolve());
    await feed.ready;
    expect(feed.status).toBe("inactive");
    recorded = "active"; // the worker opened the room, but its publish never reached this node
    await feed.refreshStatus();
    expect(feed.status).toBe("active");
  });
});
