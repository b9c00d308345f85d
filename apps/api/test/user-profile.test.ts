import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { users } from "@seatdrop/db";
import { bearer, signUpFresh, useApiWithAdmin, type ApiHarness } from "./api-harness.ts";

let h: ApiHarness;
let admin: string;
const world = useApiWithAdmin();
beforeAll(() => {
  ({ h, admin } = world);
});

/** A fresh user per test, so tests do not depend on each other's sign-outs and deletions. */
const newUser = () => signUpFresh(h.app, "person");

const show = (id: string, token?: string) => h.app.inject({ method: "GET", url: `/api/users/${id}`, headers: token ? bearer(token) : {} });

describe("GET /api/users/:id (the chat service's show)", () => {
  it("shows your own account", async () => {
    const me = await newUser();
    const res = await show(me.id, me.token);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ user: { id: me.id, username: expect.any(String), email: me.email, role: "user" } });
  });

  it("answers 403 for someone else's id, 200 for an admin", async () => {
    const [me, other] = [await newUser(), await newUser()];
    const res = await show(other.id, me.token);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: "forbidden" });
    expect((await show(other.id, admin)).statusCode).toBe(200);
  });

  it("answers 401 without a token or with a bad one", async () => {
    const me = await newUser();
    expect((await show(me.id)).json()).toMatchObject({ error: "unauthorized" });
    const bad = await show(me.id, `${me.token}x`);
    expect(bad.statusCode).toBe(401);
    expect(bad.json()).toMatchObject({ error: "invalid_token" });
  });

  it("answers 404 for an unknown id (admin) and 422 naming id for a malformed one", async () => {
    expect((await show("0b6f7a3c-0000-4000-8000-000000000000", admin)).statusCode).toBe(404);
    const bad = await show("44d2557e-ehb0-a45e-a0cc-f8b5cb83bc6f", admin);
    expect(bad.statusCode).toBe(422);
    expect(bad.json()).toMatchObject({ errors: [{ field: "id" }] });
  });
});

describe("POST /api/users/update (the chat service's update)", () => {
  const update = (token: string | null, payload: unknown) =>
    h.app.inject({ method: "POST", url: "/api/users/update", headers: token ? bearer(token) : {}, payload: payload as Record<string, unknown> });

  it("updates your email and password; the new password signs in, the old one no longer does", async () => {
    const me = await newUser();
    const res = await update(me.token, { id: me.id, user_params: { email: "Updated@Example.com", password_hash: "updated+hashed+password" } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ user: { id: me.id, email: "updated@example.com" } });
    const signIn = (password: string) =>
      h.app.inject({ method: "POST", url: "/api/users/sign_in", payload: { email: "updated@example.com", password_hash: password } });
    expect((await signIn("updated+hashed+password")).statusCode).toBe(200);
    expect((await signIn(me.password)).statusCode).toBe(401);
  });

  it("answers 403 for someone else's id and 409 for a taken username", async () => {
    const [me, other] = [await newUser(), await newUser()];
    expect((await update(me.token, { id: other.id, user_params: { username: "stolen" } })).statusCode).toBe(403);
    const taken = await update(me.token, { id: me.id, user_params: { username: "admin" } });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ error: "conflict", field: "username" });
  });

  it("answers 422 for nothing to change or a short password", async () => {
    const me = await newUser();
    const empty = await update(me.token, { id: me.id, user_params: {} });
    expect(empty.statusCode).toBe(422);
    expect(empty.json()).toMatchObject({ errors: [{ field: "user_params" }] });
    const short = await update(me.token, { id: me.id, user_params: { password_hash: "short" } });
    expect(short.json()).toMatchObject({ errors: [{ field: "user_params.password_hash" }] });
  });

  it("answers 401 before looking at the body when there is no token", async () => {
    const res = await update(null, { nonsense: true });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: "unauthorized" });
  });

  it("never lets sign-up or update choose a role", async () => {
    const res = await h.app.inject({
      method: "POST",
      url: "/api/users/create",
      payload: { user_params: { username: "sneaky", email: "sneaky@example.com", password_hash: "sneaky-password", role: "admin" } },
    });
    expect(res.json()).toMatchObject({ user: { role: "user" } });
  });
});

describe("sign out and delete", () => {
  it("sign out revokes the token on every route; other sessions live on", async () => {
    const me = await newUser();
    const other = await h.app.inject({ method: "POST", url: "/api/users/sign_in", payload: { email: me.email, password_hash: me.password } });
    const otherToken = (other.json() as { token: string }).token;
    const res = await h.app.inject({ method: "POST", url: "/api/users/sign_out", headers: bearer(me.token) });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe("");
    const after = await show(me.id, me.token);
    expect(after.statusCode).toBe(401);
    expect(after.json()).toMatchObject({ error: "token_revoked" });
    expect((await show(me.id, otherToken)).statusCode).toBe(200);
    expect((await h.app.inject({ method: "DELETE", url: "/api/users/sign_out", headers: bearer(otherToken) })).statusCode).toBe(204);
    expect((await h.app.inject({ method: "DELETE", url: "/api/users/sign_out" })).statusCode).toBe(401);
  });

  it("deletes your own account (both seed paths), ends its session, refuses others' (403)", async () => {
    const [me, other] = [await newUser(), await newUser()];
    const foreign = await h.app.inject({ method: "DELETE", url: `/api/users/delete_user/${other.id}`, headers: bearer(me.token) });
    expect(foreign.statusCode).toBe(403);
    const res = await h.app.inject({ method: "DELETE", url: `/api/users/delete/${me.id}`, headers: bearer(me.token) });
    expect(res.statusCode).toBe(204);
    expect(await h.env.db.db.select().from(users).where(eq(users.id, me.id))).toHaveLength(0);
    expect((await show(me.id, me.token)).json()).toMatchObject({ error: "token_revoked" });
    const byAdmin = await h.app.inject({ method: "DELETE", url: `/api/users/delete_user/${other.id}`, headers: bearer(admin) });
    expect(byAdmin.statusCode).toBe(204);
    const again = await h.app.inject({ method: "DELETE", url: `/api/users/delete_user/${other.id}`, headers: bearer(admin) });
    expect(again.statusCode).toBe(404);
  });
});
