import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { seatAudit, tickets } from "@seatdrop/db";
import type { ApiApp } from "../src/app.ts";
import type { TestEnv } from "../../../test/support/test-env.ts";
import { useClusterWithApi } from "../../../test/support/use-cluster.ts";
import { createEvent, createUser, seatIdsGrid, type TestCluster } from "../../../test/support/cluster.ts";
import type { Reply } from "../../../test/support/raw-phx.ts";

/**
 * docs/reliability.md, round one, finding 1: ticket numbers could be guessed (251 joins counting up
 * in 0.6 s; three distinct refusals told which numbers exist) and a stolen ticket could not be
 * given back. Now a claim answers one uniform refusal, claims are limited per user and address
 * across the cluster, and an admin can reassign a used ticket, audited.
 */
let env: TestEnv;
let cluster: TestCluster;
let app: ApiApp;
const world = useClusterWithApi({ LIMIT_TICKET_CLAIMS_PER_USER: "5" }, { worker: false });
beforeAll(() => {
  ({ env, cluster, app } = world);
});
const socket = (node: number, token: string) => world.socket(node, token);
const issue = async (eventId: string, number: string, o: { userId?: string; status?: "valid" | "void"; usedAt?: Date } = {}) =>
  (await env.db.db.insert(tickets).values({ eventId, ticketNumber: number, userId: o.userId ?? null, status: o.status ?? "valid", usedAt: o.usedAt ?? null }).returning())[0]!;

describe("ticket claims", () => {
  it("answer one uniform refusal whatever the reason: unknown, another event's, void, someone else's, control characters", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 1));
    const otherEvent = await createEvent(env, seatIdsGrid(1, 1));
    const owner = await createUser(env);
    const guesser = await createUser(env);
    const n = Date.now().toString(36);
    await issue(otherEvent, `OTHER-${n}`);
    await issue(eventId, `VOID-${n}`, { status: "void" });
    await issue(eventId, `OWNED-${n}`, { userId: owner.id, usedAt: new Date() });
    const c = await socket(0, guesser.token);
    const replies: Reply[] = [];
    for (const number of [`NOPE-${n}`, `OTHER-${n}`, `VOID-${n}`, `OWNED-${n}`, `NUL-\u0000-${n}`]) replies.push((await c.join(`event:${eventId}`, { ticket_number: number })).reply);
    expect(replies[0]).toEqual({ status: "error", response: { reason: "invalid_ticket", message: expect.any(String), field: "ticket_number" } });
    for (const r of replies) expect(r).toEqual(replies[0]); // byte for byte the same answer: no oracle
    console.log(`ticket claims: ${replies.length} refused (unknown, another event's, void, someone else's, U+0000): ${new Set(replies.map((r) => JSON.stringify(r))).size} distinct answer, ${String(replies[0]!.response.reason)}`);
  });

  it("a guesser counting up is stopped by the claim limit before reaching the real number, on either node", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 1));
    const thief = await createUser(env);
    const real = await issue(eventId, "100000010");
    const [a, b] = [await socket(0, thief.token), await socket(1, thief.token)];
    const reasons: string[] = [];
    for (let i = 0; i <= 10; i++) reasons.push(String(((await (i % 2 ? b : a).join(`event:${eventId}`, { ticket_number: `1000000${String(i).padStart(2, "0")}` })).reply.response as { reason: string }).reason));
    expect(reasons.slice(0, 5)).toEqual(Array(5).fill("invalid_ticket"));
    expect(reasons.slice(5)).toEqual(Array(6).fill("rate_limited"));
    const [row] = await env.db.db.select().from(tickets).where(eq(tickets.id, real.id));
    expect(row).toMatchObject({ userId: null, usedAt: null });
  });

  it("an admin reassigns a used (stolen) ticket; the move is audited and the rightful holder gets in", async () => {
    const eventId = await createEvent(env, seatIdsGrid(1, 1));
    const [thief, rightful] = [await createUser(env), await createUser(env)];
    const admin = await createUser(env, "admin");
    const t = await issue(eventId, `STOLEN-${Date.now()}`);
    expect((await (await socket(0, thief.token)).join(`event:${eventId}`, { ticket_number: t.ticketNumber })).reply.status).toBe("ok");
    const res = await app.inject({ method: "PATCH", url: `/api/tickets/${t.id}/assign/${rightful.id}`, headers: { authorization: `Bearer ${admin.token}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ ticket: { user_id: rightful.id, used_at: null } });
    const audit = await env.db.db.select().from(seatAudit).where(and(eq(seatAudit.eventId, eventId), eq(seatAudit.action, "ticket_reassigned")));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: `user:${admin.id}`, detail: { ticket_id: t.id, from_user: thief.id, to_user: rightful.id, was_used_at: expect.any(String) } });
    expect((await (await socket(1, rightful.token)).join(`event:${eventId}`)).reply.status).toBe("ok");
    // The thief's own ticket-less join no longer gets in.
    expect((await (await socket(1, thief.token)).join(`event:${eventId}`)).reply.response).toMatchObject({ reason: "unauthorized" });
  });
});
