import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { events, orders, seatAudit, tickets, users } from "@seatdrop/db";
import { assignTicket, claimTicket, issueOrderTickets, issueTicket, newTicketNumber, TicketError, validTicketHolders, voidOrderTickets } from "@seatdrop/tickets";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

// The ticket rules against a real PostgreSQL: issue, claim, assign, void.
describe("tickets", () => {
  let env: TestEnv;
  let eventId: string;
  let otherEventId: string;
  let n = 0;
  beforeAll(async () => {
    env = await createTestEnv();
    const day = 86_400_000;
    const rows = await env.db.db
      .insert(events)
      .values([0, 1].map((i) => ({ name: `e${i}`, description: "", location: "", startTime: new Date(Date.now() + day), endTime: new Date(Date.now() + 2 * day) })))
      .returning({ id: events.id });
    eventId = rows[0]!.id;
    otherEventId = rows[1]!.id;
  });
  afterAll(async () => env?.close());

  const db = () => env.db.db;
  async function user(): Promise<string> {
    n++;
    const [u] = await db().insert(users).values({ username: `u${n}`, email: `u${n}@test.local`, passwordHash: "x" }).returning({ id: users.id });
    return u!.id;
  }
  async function ticket(over: Partial<typeof tickets.$inferInsert> = {}) {
    const [t] = await db().insert(tickets).values({ eventId, ticketNumber: newTicketNumber(), ...over }).returning();
    return t!;
  }
  async function refusal(p: Promise<unknown>): Promise<string> {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TicketError);
    return (err as TicketError).code;
  }

  describe("issue", () => {
    it("issues a number once, for an existing event", async () => {
      const t = await issueTicket(db(), { ticketNumber: "BOX-1", eventId });
      expect(t).toMatchObject({ ticketNumber: "BOX-1", eventId, status: "valid", userId: null, usedAt: null });
      expect(await refusal(issueTicket(db(), { ticketNumber: "BOX-1", eventId }))).toBe("number_taken");
      expect(await refusal(issueTicket(db(), { ticketNumber: "BOX-2", eventId: "11111111-1111-4111-8111-111111111111" }))).toBe("unknown_event");
    });

    it("issues a paid order's tickets: one per seat, the buyer holding the first in seat order", async () => {
      const buyer = await user();
      const [order] = await db().insert(orders).values({ userId: buyer, eventId, totalCents: 0, expiresAt: new Date() }).returning({ id: orders.id });
      await db().transaction((tx) => issueOrderTickets(tx, { eventId, orderId: order!.id, buyerId: buyer, seatIds: ["A_10", "A_2"] }));
      const rows = await db().select().from(tickets).where(eq(tickets.orderId, order!.id));
      const bySeat = Object.fromEntries(rows.map((r) => [r.seatId, r]));
      expect(Object.keys(bySeat).sort()).toEqual(["A_10", "A_2"]);
      expect(bySeat["A_2"]!.userId).toBe(buyer);
      expect(bySeat["A_10"]!.userId).toBeNull();
      expect(rows.every((r) => /^TKT-[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/.test(r.ticketNumber))).toBe(true);
    });
  });

  describe("void", () => {
    it("voids an order's tickets, which then admit nobody", async () => {
      const buyer = await user();
      const [order] = await db().insert(orders).values({ userId: buyer, eventId, totalCents: 0, expiresAt: new Date() }).returning({ id: orders.id });
      await db().transaction((tx) => issueOrderTickets(tx, { eventId, orderId: order!.id, buyerId: buyer, seatIds: ["B_1"] }));
      expect(await validTicketHolders(db(), { eventId, userIds: [buyer] })).toEqual(new Set([buyer]));
      await db().transaction((tx) => voidOrderTickets(tx, order!.id));
      const rows = await db().select().from(tickets).where(eq(tickets.orderId, order!.id));
      expect(rows.map((r) => r.status)).toEqual(["void"]);
      expect(await validTicketHolders(db(), { eventId, userIds: [buyer] })).toEqual(new Set());
      expect(await refusal(claimTicket(db(), { eventId, userId: buyer }))).toBe("no_ticket");
      expect(await refusal(claimTicket(db(), { eventId, userId: buyer, ticketNumber: rows[0]!.ticketNumber }))).toBe("invalid_ticket");
    });
  });

  describe("claim", () => {
    it("a free number is associated and marked used; its holder may use it again", async () => {
      const u = await user();
      const t = await ticket();
      expect(await claimTicket(db(), { eventId, userId: u, ticketNumber: t.ticketNumber })).toEqual({ id: t.id, ticketNumber: t.ticketNumber, claimedNow: true });
      const [after] = await db().select().from(tickets).where(eq(tickets.id, t.id));
      expect(after!.userId).toBe(u);
      expect(after!.usedAt).not.toBeNull();
      expect(await claimTicket(db(), { eventId, userId: u, ticketNumber: t.ticketNumber })).toMatchObject({ claimedNow: false });
      expect(await claimTicket(db(), { eventId, userId: u })).toMatchObject({ id: t.id, claimedNow: false });
    });

    it("refuses every other number with the same invalid_ticket", async () => {
      const u = await user();
      const holder = await user();
      const held = await ticket({ userId: holder });
      const voided = await ticket({ status: "void" });
      const elsewhere = await ticket({ eventId: otherEventId });
      const usedOrphan = await ticket({ usedAt: new Date() }); // used, then its holder was deleted
      for (const number of [held.ticketNumber, voided.ticketNumber, elsewhere.ticketNumber, usedOrphan.ticketNumber, "NO-SUCH", "BAD\u0000"])
        expect(await refusal(claimTicket(db(), { eventId, userId: u, ticketNumber: number })), number).toBe("invalid_ticket");
      expect(await refusal(claimTicket(db(), { eventId, userId: u }))).toBe("no_ticket");
    });

    it("two users racing for one number: exactly one gets it", async () => {
      const [a, b] = [await user(), await user()];
      const t = await ticket();
      const results = await Promise.allSettled([a, b].map((userId) => claimTicket(db(), { eventId, userId, ticketNumber: t.ticketNumber })));
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
      expect((lost.reason as TicketError).code).toBe("invalid_ticket");
    });
  });

  describe("assign", () => {
    it("a user may take a free, unused ticket; not one held, used or void", async () => {
      const u = await user();
      const free = await ticket();
      expect((await assignTicket(db(), { ticketId: free.id, userId: u, byAdmin: false })).userId).toBe(u);
      expect(await refusal(assignTicket(db(), { ticketId: (await ticket({ userId: await user() })).id, userId: u, byAdmin: false }))).toBe("ticket_claimed");
      expect(await refusal(assignTicket(db(), { ticketId: (await ticket({ userId: await user(), usedAt: new Date() })).id, userId: u, byAdmin: false }))).toBe("ticket_used");
      expect(await refusal(assignTicket(db(), { ticketId: (await ticket({ usedAt: new Date() })).id, userId: u, byAdmin: false }))).toBe("ticket_used");
      expect(await refusal(assignTicket(db(), { ticketId: (await ticket({ status: "void" })).id, userId: u, byAdmin: true }))).toBe("ticket_void");
      expect(await refusal(assignTicket(db(), { ticketId: "11111111-1111-4111-8111-111111111111", userId: u, byAdmin: true }))).toBe("ticket_not_found");
      expect(await refusal(assignTicket(db(), { ticketId: free.id, userId: "11111111-1111-4111-8111-111111111111", byAdmin: true }))).toBe("user_not_found");
    });

    it("an admin may reassign a used ticket: it becomes unused, and the move is audited", async () => {
      const [from, to] = [await user(), await user()];
      const t = await ticket({ userId: from, usedAt: new Date() });
      const moved = await assignTicket(db(), { ticketId: t.id, userId: to, byAdmin: true, actor: "user:admin" });
      expect(moved).toMatchObject({ userId: to, usedAt: null });
      const audits = await db().select().from(seatAudit).where(eq(seatAudit.action, "ticket_reassigned"));
      expect(audits.find((a) => (a.detail as { ticket_id?: string }).ticket_id === t.id)).toMatchObject({ actor: "user:admin", detail: { from_user: from, to_user: to } });
    });
  });
});
