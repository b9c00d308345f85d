import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { events, foreignKeyViolation, isDataException, postgresError, SqlState, tickets, uniqueViolation } from "@seatdrop/db";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

// Real errors from a real PostgreSQL through drizzle, which wraps the driver's error: the helpers
// must find the SQLSTATE however deep it sits.
describe("PostgreSQL error helpers", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => env?.close());

  async function failure(run: () => Promise<unknown>): Promise<unknown> {
    try {
      await run();
    } catch (err) {
      return err;
    }
    throw new Error("the query was expected to fail");
  }

  it("names the constraint of a unique violation, and nothing else", async () => {
    const [event] = await env.db.db
      .insert(events)
      .values({ name: "e", description: "", location: "", startTime: new Date(Date.now() + 86_400_000), endTime: new Date(Date.now() + 2 * 86_400_000) })
      .returning({ id: events.id });
    await env.db.db.insert(tickets).values({ ticketNumber: "T-1", eventId: event!.id });
    const err = await failure(() => env.db.db.insert(tickets).values({ ticketNumber: "T-1", eventId: event!.id }));
    expect(postgresError(err)?.code).toBe(SqlState.uniqueViolation);
    expect(uniqueViolation(err)).toBe("tickets_number_key");
    expect(foreignKeyViolation(err)).toBeNull();
    expect(isDataException(err)).toBe(false);
  });

  it("names the constraint of a foreign-key violation", async () => {
    const err = await failure(() => env.db.db.insert(tickets).values({ ticketNumber: "T-2", eventId: "11111111-1111-4111-8111-111111111111" }));
    expect(foreignKeyViolation(err)).toMatch(/^tickets_/);
    expect(uniqueViolation(err)).toBeNull();
  });

  it("recognises a data exception (class 22)", async () => {
    const err = await failure(() => env.db.db.execute(sql`select 2147483647::int + 1`));
    expect(isDataException(err)).toBe(true);
    expect(uniqueViolation(err)).toBeNull();
    expect(foreignKeyViolation(err)).toBeNull();
  });

  it("finds no PostgreSQL error in an ordinary one", () => {
    expect(postgresError(new Error("boom"))).toBeNull();
    expect(postgresError(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }))).toBeNull();
  });
});
