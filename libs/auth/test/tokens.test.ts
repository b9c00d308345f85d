import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError, createTokenSigner, createTokenVerifier, providerUserId, type AuthErrorCode } from "../src/index.ts";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

const userId = "7c0b8d64-1f43-4c43-9a43-1d4fe1f3a9a1";

async function expectAuthError(promise: Promise<unknown>, code: AuthErrorCode): Promise<void> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthError);
  expect((err as AuthError).code).toBe(code);
  expect((err as AuthError).message.length).toBeGreaterThan(0);
}

describe("token signer and verifier", () => {
  it("round-trips subject, role, username, jti and expiry", async () => {
    const token = await createTokenSigner(env.config).sign({ sub: userId, role: "admin", username: "ada" });
    const verified = await createTokenVerifier(env.config).verify(token);
    expect(verified).toMatchObject({ userId, role: "admin", username: "ada" });
    expect(verified.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(verified.exp).toBeGreaterThan(Date.now() / 1000);
    expect(verified.exp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + env.config.JWT_TTL_SECONDS);
  });

  it("gives every token its own jti", async () => {
    const signer = createTokenSigner(env.config);
    const verifier = createTokenVerifier(env.config);
    const a = await verifier.verify(await signer.sign({ sub: userId, role: "user" }));
    const b = await verifier.verify(await signer.sign({ sub: userId, role: "user" }));
    expect(a.jti).not.toBe(b.jti);
    expect(a.username).toBeUndefined();
  });

  it("refuses an expired token with token_expired", async () => {
    const twoHoursAgo = () => Date.now() - 2 * 3600_000;
    const token = await createTokenSigner(env.config, { now: twoHoursAgo }).sign({ sub: userId, role: "user" }, { ttlSeconds: 60 });
    await expectAuthError(createTokenVerifier(env.config).verify(token), "token_expired");
  });

  it("refuses a token signed with another secret", async () => {
    const token = await createTokenSigner({ ...env.config, JWT_SECRET: "another-secret-another-secret" }).sign({ sub: userId, role: "user" });
    await expectAuthError(createTokenVerifier(env.config).verify(token), "invalid_token");
  });

  it("refuses a tampered token", async () => {
    const token = await createTokenSigner(env.config).sign({ sub: userId, role: "user" });
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, role: "admin" })).toString("base64url");
    await expectAuthError(createTokenVerifier(env.config).verify(`${header}.${forged}.${signature}`), "invalid_token");
  });

  it("refuses unsigned tokens, garbage and another issuer", async () => {
    const verifier = createTokenVerifier(env.config);
    const unsigned = new UnsecuredJWT({ role: "admin" }).setSubject(userId).setIssuer(env.config.JWT_ISSUER).setExpirationTime("1h").encode();
    await expectAuthError(verifier.verify(unsigned), "invalid_token");
    await expectAuthError(verifier.verify("not.a.jwt"), "invalid_token");
    await expectAuthError(verifier.verify(""), "invalid_token");
    const otherIssuer = await createTokenSigner({ ...env.config, JWT_ISSUER: "someone-else" }).sign({ sub: userId, role: "user" });
    await expectAuthError(verifier.verify(otherIssuer), "invalid_token");
  });

  it("refuses a token with an unknown role", async () => {
    const token = await new SignJWT({ role: "superuser" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(userId)
      .setIssuer(env.config.JWT_ISSUER)
      .setExpirationTime("1h")
      .setJti("j1")
      .sign(new TextEncoder().encode(env.config.JWT_SECRET));
    await expectAuthError(createTokenVerifier(env.config).verify(token), "invalid_token");
  });

  it("refuses a revoked token, asking the deny list in Redis", async () => {
    const verifier = createTokenVerifier(env.config, {
      isRevoked: async (jti) => (await env.redis.exists(env.keys.deniedToken(jti))) === 1,
    });
    const token = await createTokenSigner(env.config).sign({ sub: userId, role: "user" });
    const { jti } = await verifier.verify(token);
    await env.redis.set(env.keys.deniedToken(jti), "1", "EX", 60);
    await expectAuthError(verifier.verify(token), "token_revoked");
  });
});

/**
 * The rules the cluster's own HS256 tokens are held to, pinned so that a faster verifier cannot move
 * them (the secret is now imported once as a CryptoKey; a synchronous HMAC path was measured too, see
 * ARCHITECTURE.md): exactly HS256 with the secret, the claims required (sub, exp, iss; aud when
 * configured), the types of the dates and the 5 s clock tolerance. Tokens are made with jose (one
 * by hand), independently of the verifier.
 */
describe("HS256 claim rules", () => {
  const secret = () => new TextEncoder().encode(env.config.JWT_SECRET);
  const nowS = () => Math.floor(Date.now() / 1000);
  /** An HS256 token of `claims` (sub, iss, exp and jti filled in unless given, `undefined` leaves one out). */
  const own = (claims: Record<string, unknown>, header: Record<string, unknown> = { alg: "HS256" }) => {
    const all: Record<string, unknown> = { sub: userId, iss: env.config.JWT_ISSUER, exp: nowS() + 3600, jti: "j-rules", ...claims };
    for (const k of Object.keys(all)) if (all[k] === undefined) delete all[k];
    return new SignJWT(all).setProtectedHeader(header as { alg: string }).sign(secret());
  };

  it("accepts a plain one, and refuses one lacking sub, exp or iss", async () => {
    const verifier = createTokenVerifier(env.config);
    expect((await verifier.verify(await own({}))).userId).toBe(userId);
    for (const missing of ["sub", "exp", "iss"]) await expectAuthError(verifier.verify(await own({ [missing]: undefined })), "invalid_token");
  });

  it("refuses another algorithm signed with the same secret, and an unknown critical header", async () => {
    const verifier = createTokenVerifier(env.config);
    await expectAuthError(verifier.verify(await own({}, { alg: "HS512" })), "invalid_token");
    await expectAuthError(verifier.verify(await own({}, { alg: "HS384" })), "invalid_token");
    // jose will not sign a header with an unknown critical extension: signed by hand.
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const input = `${b64({ alg: "HS256", crit: ["x-unknown"], "x-unknown": 1 })}.${b64({ sub: userId, iss: env.config.JWT_ISSUER, exp: nowS() + 3600, jti: "j-crit" })}`;
    const critical = `${input}.${createHmac("sha256", env.config.JWT_SECRET).update(input).digest("base64url")}`;
    await expectAuthError(verifier.verify(critical), "invalid_token");
  });

  it("keeps jose's types for iat, nbf and exp", async () => {
    const verifier = createTokenVerifier(env.config);
    await expectAuthError(verifier.verify(await own({ iat: "yesterday" })), "invalid_token");
    await expectAuthError(verifier.verify(await own({ nbf: "now" })), "invalid_token");
    await expectAuthError(verifier.verify(await own({ exp: String(nowS() + 3600) })), "invalid_token");
  });

  it("allows 5 s of clock skew on exp and nbf, not more", async () => {
    const verifier = createTokenVerifier(env.config);
    expect((await verifier.verify(await own({ exp: nowS() - 2 }))).userId).toBe(userId);
    await expectAuthError(verifier.verify(await own({ exp: nowS() - 10 })), "token_expired");
    expect((await verifier.verify(await own({ nbf: nowS() + 2 }))).userId).toBe(userId);
    await expectAuthError(verifier.verify(await own({ nbf: nowS() + 30 })), "invalid_token");
  });

  it("with JWT_AUDIENCE, requires it: missing or another audience refused", async () => {
    const verifier = createTokenVerifier({ ...env.config, JWT_AUDIENCE: "seat-drop" });
    expect((await verifier.verify(await own({ aud: "seat-drop" }))).userId).toBe(userId);
    expect((await verifier.verify(await own({ aud: ["other", "seat-drop"] }))).userId).toBe(userId);
    await expectAuthError(verifier.verify(await own({})), "invalid_token");
    await expectAuthError(verifier.verify(await own({ aud: "another-app" })), "invalid_token");
  });
});

describe("verifier with an identity provider's JWKS", () => {
  /** Figures of the last run, printed as one line. */
  const figures: string[] = [];
  afterAll(() => console.log(`identity-provider subjects: ${figures.join("; ")}`));
  let server: Server;
  let jwksUrl: string;
  let signProvider: (claims: Record<string, unknown>) => Promise<string>;

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    server = createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
    signProvider = (claims) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .setSubject(typeof claims.sub === "string" ? claims.sub : userId)
        .setIssuer(env.config.JWT_ISSUER)
        .setExpirationTime("1h")
        .sign(privateKey);
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("accepts the provider's ES256 tokens, defaulting the role to user", async () => {
    const verifier = createTokenVerifier({ ...env.config, JWKS_URL: jwksUrl });
    const verified = await verifier.verify(await signProvider({ username: "idp-user" }));
    // The provider's sub equals a local user's id here: it must not act as that user.
    expect(verified).toMatchObject({ userId: providerUserId(env.config.JWT_ISSUER, userId), role: "user", username: "idp-user", local: false });
    expect(verified.userId).not.toBe(userId);
    expect(verified.jti.length).toBeGreaterThan(10);
    figures.push(`a provider's sub equal to local user ${userId} acts as ${verified.userId} (local: ${verified.local})`);
  });

  it("still accepts the cluster's own HS256 tokens", async () => {
    const verifier = createTokenVerifier({ ...env.config, JWKS_URL: jwksUrl });
    const token = await createTokenSigner(env.config).sign({ sub: userId, role: "service" });
    expect((await verifier.verify(token)).role).toBe("service");
  });

  it("namespaces a provider's sub: one with ':' or '|' becomes a plain UUID, never a key fragment", async () => {
    const verifier = createTokenVerifier({ ...env.config, JWKS_URL: jwksUrl });
    const verified = await verifier.verify(await signProvider({ sub: "evil:{e:x}:hold|L" }));
    expect(verified.userId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    figures.push(`sub "evil:{e:x}:hold|L" acts as ${verified.userId}`);
  });

  it("never takes a role from the provider: its users are plain users", async () => {
    const verifier = createTokenVerifier({ ...env.config, JWKS_URL: jwksUrl });
    expect((await verifier.verify(await signProvider({ role: "admin" }))).role).toBe("user");
  });

  it("with JWT_AUDIENCE, refuses provider tokens minted for another application, and signs its own with it", async () => {
    const config = { ...env.config, JWKS_URL: jwksUrl, JWT_AUDIENCE: "seat-drop" };
    const verifier = createTokenVerifier(config);
    await expectAuthError(verifier.verify(await signProvider({ aud: "another-app" })), "invalid_token");
    expect((await verifier.verify(await signProvider({ aud: "seat-drop" }))).userId).toBe(providerUserId(env.config.JWT_ISSUER, userId));
    expect((await verifier.verify(await createTokenSigner(config).sign({ sub: userId, role: "admin" }))).role).toBe("admin");
  });

  it("refuses ES256 tokens when no JWKS is configured", async () => {
    await expectAuthError(createTokenVerifier(env.config).verify(await signProvider({})), "invalid_token");
  });
});
