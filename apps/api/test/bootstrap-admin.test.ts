import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyPassword } from "@seatdrop/auth";
import { createLogger } from "@seatdrop/observability";
import { bootstrapAdmin } from "../src/services/bootstrap-admin.ts";
import { signUp, startApi, type ApiHarness } from "./api-harness.ts";

let h: ApiHarness;
const logger = createLogger("api-test", "silent");
beforeAll(async () => {
  h = await startApi();
});
afterAll(async () => {
  await h.close();
});

const adminRows = () =>
  h.env.db.db.execute<{ id: string; username: string; email: string; role: string; password_hash: string }>(
    sql`select id, username, email, role, password_hash from users where role = 'admin'`,
  );

describe("bootstrapAdmin", () => {
  it("creates the configured admin once, and on later boots only refreshes its password", async () => {
    const first = await bootstrapAdmin({ db: h.env.db, config: h.env.config, logger });
    const again = await bootstrapAdmin({ db: h.env.db, config: { ...h.env.config, ADMIN_PASSWORD: "a-new-admin-password" }, logger });
    expect(again.id).toBe(first.id);
    // Only this configuration's admins: the other test promotes an account of its own, and may run first.
    const rows = (await adminRows()).filter((r) => r.username === "admin" || r.email === h.env.config.ADMIN_EMAIL.toLowerCase());
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ username: "admin", email: h.env.config.ADMIN_EMAIL.toLowerCase(), role: "admin" });
    expect(await verifyPassword("a-new-admin-password", rows[0]!.password_hash)).toBe(true);
  });

  it("promotes an existing account with ADMIN_EMAIL instead of creating a second one", async () => {
    const { body } = await signUp(h.app, { username: "boss", email: "boss@example.com", password: "boss-password" });
    const result = await bootstrapAdmin({ db: h.env.db, config: { ...h.env.config, ADMIN_EMAIL: "Boss@Example.com" }, logger });
    expect(result.id).toBe(body.user.id);
    const rows = await adminRows();
    expect(rows.map((r) => r.email)).toContain("boss@example.com");
  });
});
