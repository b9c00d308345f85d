import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenVerifier, verifyPassword } from "@seatdrop/auth";
import { signUp, startApi, type ApiHarness } from "./api-harness.ts";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApi();
});
afterAll(async () => {
  await h.close();
});

describe("POST /api/users/create (the chat service's sign up)", () => {
  it("creates the user and returns it with a token the shared verifier accepts", async () => {
    const { status, body } = await signUp(h.app, { username: "sample_user", email: "sample@email.com", password: "hashed+password" });
    expect(status).toBe(201);
    expect(body.user).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), username: "sample_user", email: "sample@email.com", role: "user" });
    const verified = await createTokenVerifier(h.env.config).verify(body.token);
    expect(verified).toMatchObject({ userId: body.user.id, role: "user", username: "sample_user" });
  });

  it("stores an scrypt hash, never the plaintext the client sent as password_hash", async () => {
    await signUp(h.app, { username: "hash_check", email: "hash@example.com", password: "plain-text-secret" });
    const rows = await h.env.db.db.execute<{ password_hash: string }>(sql`select password_hash from users where email = 'hash@example.com'`);
    const stored = rows[0]?.password_hash ?? "";
    expect(stored).not.toBe("plain-text-secret");
    expect(stored).not.toContain("plain-text-secret");
    expect(stored.startsWith("scrypt$")).toBe(true);
    expect(await verifyPassword("plain-text-secret", stored)).toBe(true);
  });

  it("answers 409 naming the email when it is taken, whatever its case", async () => {
    await signUp(h.app, { username: "first", email: "taken@example.com", password: "password-1" });
    const { status, body } = await signUp(h.app, { username: "second", email: "Taken@Example.com", password: "password-2" });
    expect(status).toBe(409);
    expect(body).toMatchObject({ error: "conflict", field: "email", message: expect.any(String) });
  });

  it("answers 409 naming the username when it is taken", async () => {
    await signUp(h.app, { username: "same_name", email: "one@example.com", password: "password-1" });
    const { status, body } = await signUp(h.app, { username: "same_name", email: "two@example.com", password: "password-2" });
    expect(status).toBe(409);
    expect(body).toMatchObject({ error: "conflict", field: "username" });
  });

  it("answers 422 naming an invalid email", async () => {
    const { status, body } = await signUp(h.app, { username: "bad_email", email: "not-an-email", password: "password-1" });
    expect(status).toBe(422);
    expect(body).toMatchObject({ error: "validation_failed", errors: [{ field: "user_params.email", message: expect.any(String) }] });
  });

  it("answers 422 naming a password shorter than 8 characters", async () => {
    const { status, body } = await signUp(h.app, { username: "short_pw", email: "short@example.com", password: "1234567" });
    expect(status).toBe(422);
    expect(body.errors).toContainEqual({ field: "user_params.password_hash", message: expect.any(String) });
  });

  it("answers 422 naming missing fields", async () => {
    const res = await h.app.inject({ method: "POST", url: "/api/users/create", payload: { user_params: { email: "x@example.com" } } });
    expect(res.statusCode).toBe(422);
    const fields = (res.json() as { errors: { field: string }[] }).errors.map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(["user_params.username", "user_params.password_hash"]));
    const empty = await h.app.inject({ method: "POST", url: "/api/users/create", payload: {} });
    expect(empty.statusCode).toBe(422);
    expect(empty.json()).toMatchObject({ errors: [{ field: "user_params" }] });
  });

  it("answers JSON errors for a body that is not JSON", async () => {
    const res = await h.app.inject({ method: "POST", url: "/api/users/create", headers: { "content-type": "application/json" }, payload: "{nope" });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: "bad_request", message: expect.any(String) });
  });
});

describe("POST /api/users/sign_in (the chat service's sign in)", () => {
  beforeAll(async () => {
    await signUp(h.app, { username: "signer", email: "signer@example.com", password: "right-password" });
  });

  it("answers 200 with the user and a token for the right password", async () => {
    const res = await h.app.inject({ method: "POST", url: "/api/users/sign_in", payload: { email: "signer@example.com", password_hash: "right-password" } });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { user: { id: string; username: string }; token: string };
    expect(body.user).toMatchObject({ username: "signer", email: "signer@example.com", role: "user" });
    expect((await createTokenVerifier(h.env.config).verify(body.token)).userId).toBe(body.user.id);
  });

  it("accepts the email in another case", async () => {
    const res = await h.app.inject({ method: "POST", url: "/api/users/sign_in", payload: { email: "SIGNER@example.com", password_hash: "right-password" } });
    expect(res.statusCode).toBe(200);
  });

  it("answers 401 invalid_credentials for a wrong password or an unknown email, alike", async () => {
    const wrong = await h.app.inject({ method: "POST", url: "/api/users/sign_in", payload: { email: "signer@example.com", password_hash: "wrong-password" } });
    const unknown = await h.app.inject({ method: "POST", url: "/api/users/sign_in", payload: { email: "nobody@example.com", password_hash: "right-password" } });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.json()).toEqual({ error: "invalid_credentials", message: expect.any(String) });
    expect(unknown.json()).toEqual(wrong.json());
  });

  it("answers 422 when a field is missing", async () => {
    const res = await h.app.inject({ method: "POST", url: "/api/users/sign_in", payload: { email: "signer@example.com" } });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ errors: [{ field: "password_hash" }] });
  });
});
