import { createHash, createHmac, createSecretKey, timingSafeEqual, webcrypto } from "node:crypto";
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { Config } from "@seatdrop/config";
import { AuthError, type AuthErrorCode } from "./auth-error.ts";
import { isRole, type Role } from "./roles.ts";

/** What a verified token says about its bearer. */
export interface VerifiedToken {
  userId: string;
  role: Role;
  username?: string;
  /** The token's id, the key for revocation. */
  jti: string;
  /** Expiry in seconds since the epoch; a revocation need not outlive it. */
  exp: number;
  /** When it was issued, in milliseconds (`iat_ms`, else `iat` × 1000, else 0). */
  issuedAtMs: number;
  /**
   * False for an identity provider's token: its user has no row here, and `userId` is derived from
   * the provider's issuer and `sub` (see {@link providerUserId}), never the raw `sub`.
   */
  local: boolean;
}

/** Checks access tokens. Free of any HTTP framework: the WebSocket nodes use it too. */
export interface TokenVerifier {
  /** Resolves to the token's claims or rejects with an {@link AuthError}. */
  verify(token: string): Promise<VerifiedToken>;
  /**
   * The same signature and claim checks for the cluster's own HS256 tokens, synchronously (a
   * ws-node's upgrade must complete inside its handler: see apps/ws-node/src/upgrade.ts): returns
   * the claims, throws the {@link AuthError} `verify` would reject with, or returns null for a token
   * only `verify` can check (an identity provider's RS256/ES256 token, with JWKS_URL set). Unlike
   * `verify` it never asks whether the session ended (`isEnded`, `isRevoked`): the caller answers
   * that itself (the ws-node's SessionMirror).
   */
  verifySync(token: string): VerifiedToken | null;
}

/** The part of the configuration a verifier reads. */
export type TokenVerifierConfig = Pick<Config, "JWT_SECRET" | "JWT_ISSUER" | "JWKS_URL"> & Partial<Pick<Config, "JWKS_ISSUER" | "JWT_AUDIENCE">>;

export interface TokenVerifierOptions {
  /** Answers whether a token id was revoked (signed out); checked only after the signature holds. */
  isRevoked?: (jti: string) => Promise<boolean>;
  /**
   * Answers whether the token's session ended (signed out, password changed, user deleted: see
   * SessionStore.isEnded); checked only after the signature holds. Supersedes `isRevoked`.
   */
  isEnded?: (token: VerifiedToken) => Promise<AuthErrorCode | null>;
}

/** Tokens longer than this are refused before any parsing; real ones are a few hundred bytes. */
const MAX_TOKEN_LENGTH = 8192;
/** Allowed clock skew with an identity provider, in seconds. */
const CLOCK_TOLERANCE_S = 5;

/**
 * Creates a verifier with an explicit algorithm list, so a token can never choose how it is checked
 * (the `alg: none` and RS256-to-HS256 confusion attacks). HS256 tokens are always checked against
 * `JWT_SECRET`; with `JWKS_URL` set, RS256 and ES256 tokens from the identity provider are checked
 * against its key set as well, so the cluster's own tokens keep working beside the provider's.
 */
export function createTokenVerifier(config: TokenVerifierConfig, options: TokenVerifierOptions = {}): TokenVerifier {
  // The secret as a CryptoKey, imported once: jose (WebCrypto only since v6) imports a raw secret
  // on every call, which cost a ws-node about 180 µs of CPU per connect (`npm run bench`, conns).
  // It verifies HS256 only (`algorithms`, and WebCrypto refuses the key for any other hash).
  const secret = webcrypto.subtle.importKey("raw", new TextEncoder().encode(config.JWT_SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  secret.catch(() => {}); // a failed import fails each verify (a server error), not the process
  const remote = config.JWKS_URL ? createRemoteJWKSet(new URL(config.JWKS_URL)) : null;
  const algorithms = remote ? ["HS256", "RS256", "ES256"] : ["HS256"];
  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg === "HS256" || !remote) return secret;
    return remote(header, token);
  };

  const verifySync = createHs256Verifier(config, remote !== null);

  return {
    verifySync,
    async verify(token) {
      if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_LENGTH)
        throw new AuthError("invalid_token", "the token is missing or malformed");
      let payload: JWTPayload;
      let alg: string | undefined;
      try {
        let protectedHeader;
        ({ payload, protectedHeader } = await jwtVerify(token, getKey, {
          algorithms,
          // Provider tokens are checked against the provider's issuer and, when configured, this
          // cluster's audience, so tokens it minted for other applications are refused.
          issuer: config.JWKS_ISSUER ? [config.JWT_ISSUER, config.JWKS_ISSUER] : config.JWT_ISSUER,
          audience: config.JWT_AUDIENCE,
          requiredClaims: ["sub", "exp"],
          clockTolerance: CLOCK_TOLERANCE_S,
        }));
        alg = protectedHeader.alg;
      } catch (err) {
        throw toAuthError(err);
      }
      // Roles are this cluster's to grant: a provider's token is a plain user whatever `role` it claims.
      if (alg !== "HS256") payload = { ...payload, role: "user" };
      const verified = toVerifiedToken(payload, token, alg === "HS256");
      if (options.isEnded) {
        const ended = await options.isEnded(verified);
        if (ended) throw sessionEnded(ended);
      } else if (options.isRevoked && (await options.isRevoked(verified.jti)))
        throw new AuthError("token_revoked", "the token was revoked (signed out); sign in again");
      return verified;
    },
  };
}

/** What jose's `jwtVerify` would have thrown, as the description {@link toAuthError} gives it. */
class Refusal {
  constructor(readonly kind: "malformed" | "signature" | "alg" | "expired" | { claim: string; reason: "missing" | "invalid" | "check_failed" }) {}
}

/**
 * The HS256 half of `verify` without jose, synchronous: a compact JWS parsed by hand, HMAC-SHA256
 * through node:crypto with a key object created once, and jose 6's checks in jose's order (its
 * `jwtVerify` with the options `verify` passes: lib/jws_verify.js, lib/jwt_claims_set.js), so
 * every token gets the same answer and the same description from both. Pinned by
 * libs/auth/test/token-agreement.test.ts, which runs both over one corpus.
 */
function createHs256Verifier(config: TokenVerifierConfig, withJwks: boolean): (token: string) => VerifiedToken | null {
  const key = createSecretKey(Buffer.from(config.JWT_SECRET, "utf8"));
  const issuers = config.JWKS_ISSUER ? [config.JWT_ISSUER, config.JWKS_ISSUER] : [config.JWT_ISSUER];
  const audience = config.JWT_AUDIENCE;
  // jose checks presence in this order (its `requiredClaims` plus those its options imply, reversed).
  const required = audience !== undefined ? ["iss", "aud", "exp", "sub"] : ["iss", "exp", "sub"];

  const check = (token: string): Record<string, unknown> | null => {
    const parts = token.split(".");
    if (parts.length !== 3) throw new Refusal("malformed");
    const [h, p, s] = parts as [string, string, string];
    const header = jsonObject(base64url(h));
    if (!header) throw new Refusal("malformed");
    // `crit`: jose recognises only `b64` (RFC 7797), which then must be a boolean.
    let b64 = true;
    if (header.crit !== undefined) {
      const crit = header.crit;
      if (!Array.isArray(crit) || crit.length === 0 || crit.some((c) => typeof c !== "string" || c.length === 0)) throw new Refusal("malformed");
      for (const c of crit as string[]) {
        if (c !== "b64") throw new Refusal("malformed"); // JOSENotSupported: described as malformed too
        if (!Object.hasOwn(header, c) || header[c] === undefined) throw new Refusal("malformed");
      }
      if (crit.includes("b64")) {
        if (typeof header.b64 !== "boolean") throw new Refusal("malformed");
        b64 = header.b64;
      }
    }
    const alg = header.alg;
    if (typeof alg !== "string" || !alg) throw new Refusal("malformed");
    if (alg !== "HS256") {
      if (withJwks && (alg === "RS256" || alg === "ES256")) return null; // the provider's: jose and its key set
      throw new Refusal("alg");
    }
    // The signing input is the token's own text, which jose insists is ASCII.
    if (!ASCII.test(p)) throw new Refusal("malformed");
    const signature = base64url(s);
    if (!signature) throw new Refusal("malformed");
    const expected = createHmac("sha256", key).update(`${h}.${p}`, "latin1").digest();
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) throw new Refusal("signature");
    if (!b64) throw new Refusal("malformed"); // "JWTs MUST NOT use unencoded payload", after the signature
    const claims = jsonObject(base64url(p));
    if (!claims) throw new Refusal("malformed");
    for (const c of required) if (!Object.hasOwn(claims, c)) throw new Refusal({ claim: c, reason: "missing" });
    if (!issuers.includes(claims.iss as string)) throw new Refusal({ claim: "iss", reason: "check_failed" });
    if (audience !== undefined) {
      const aud = claims.aud;
      if (!(typeof aud === "string" ? aud === audience : Array.isArray(aud) && aud.includes(audience))) throw new Refusal({ claim: "aud", reason: "check_failed" });
    }
    const now = Math.floor(Date.now() / 1000);
    if (claims.iat !== undefined && typeof claims.iat !== "number") throw new Refusal({ claim: "iat", reason: "invalid" });
    if (claims.nbf !== undefined && typeof claims.nbf !== "number") throw new Refusal({ claim: "nbf", reason: "invalid" });
    if (typeof claims.nbf === "number" && claims.nbf > now + CLOCK_TOLERANCE_S) throw new Refusal({ claim: "nbf", reason: "check_failed" });
    if (claims.exp !== undefined && typeof claims.exp !== "number") throw new Refusal({ claim: "exp", reason: "invalid" });
    if (typeof claims.exp === "number" && claims.exp <= now - CLOCK_TOLERANCE_S) throw new Refusal("expired");
    return claims;
  };

  return (token) => {
    if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_LENGTH)
      throw new AuthError("invalid_token", "the token is missing or malformed");
    let claims: Record<string, unknown> | null;
    try {
      claims = check(token);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      const k = err.kind;
      if (k === "expired") throw new AuthError("token_expired", "the token has expired; sign in again");
      const why =
        k === "malformed" ? "malformed" : k === "signature" ? "signature verification failed" : k === "alg" ? "algorithm not allowed" : `claim ${k.claim} ${k.reason === "check_failed" ? "is wrong" : k.reason}`;
      throw new AuthError("invalid_token", `the token is not valid (${why})`);
    }
    return claims === null ? null : toVerifiedToken(claims as JWTPayload, token, true);
  };
}

const ASCII = /^[\x00-\x7f]*$/;
/** jose's base64url alphabet after its forgiving decode (WHATWG atob): ASCII whitespace is skipped. */
const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const WHITESPACE = /[\t\n\f\r ]/g;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes base64url exactly as jose does on Node 20 (`decodeBase64`: no `+` or `/`, then `atob`,
 * whose forgiving decode skips ASCII whitespace, accepts up to two `=` of padding only when the
 * length is a multiple of four, refuses a lone trailing character); null where jose throws.
 */
function base64url(s: string): Buffer | null {
  let t = s;
  if (t.includes(" ") || t.includes("\t") || t.includes("\n") || t.includes("\r") || t.includes("\f")) t = t.replace(WHITESPACE, "");
  if (!B64URL.test(t)) return null;
  const pad = t.endsWith("==") ? 2 : t.endsWith("=") ? 1 : 0;
  if (pad > 0 && t.length % 4 !== 0) return null;
  const body = pad > 0 ? t.slice(0, t.length - pad) : t;
  if (body.length % 4 === 1) return null;
  return Buffer.from(body, "base64url");
}

/** jose's header and claims-set parse: strict UTF-8 (a BOM dropped), JSON, a plain object; else null. */
function jsonObject(bytes: Buffer | null): Record<string, unknown> | null {
  if (!bytes) return null;
  let v: unknown;
  try {
    v = JSON.parse(strictUtf8.decode(bytes));
  } catch {
    return null;
  }
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** The refusal of a token whose session ended (the API's 401 and the upgrade's, from the record or a node's mirror). */
export function sessionEnded(code: AuthErrorCode = "token_revoked"): AuthError {
  return new AuthError(code, "the session ended (signed out, password changed or account deleted); sign in again");
}

function toVerifiedToken(payload: JWTPayload, token: string, local: boolean): VerifiedToken {
  const role = payload.role ?? "user"; // identity providers rarely know our roles: their users are plain users
  if (!isRole(role)) throw new AuthError("invalid_token", "the token carries an unknown role");
  if (typeof payload.sub !== "string" || payload.sub.length === 0 || typeof payload.exp !== "number")
    throw new AuthError("invalid_token", "the token lacks a subject or an expiry");
  // Tokens from an identity provider may lack a jti; a digest of the token still names it uniquely for revocation.
  const jti = typeof payload.jti === "string" && payload.jti ? payload.jti : createHash("sha256").update(token).digest("base64url");
  const issuedAtMs = typeof payload.iat_ms === "number" ? payload.iat_ms : typeof payload.iat === "number" ? payload.iat * 1000 : 0;
  // A provider's `sub` is its own namespace: used raw, a `sub` equal to a local user's id would act
  // as that user, and one containing `:` or `|` could collide with Redis keys and seat states.
  const userId = local ? payload.sub : providerUserId(String(payload.iss ?? ""), payload.sub);
  const verified: VerifiedToken = { userId, role, jti, exp: payload.exp, issuedAtMs, local };
  if (typeof payload.username === "string") verified.username = payload.username;
  return verified;
}

function toAuthError(err: unknown): Error {
  if (err instanceof AuthError) return err;
  if (err instanceof errors.JWTExpired) return new AuthError("token_expired", "the token has expired; sign in again", { cause: err });
  // The provider's key set being unreachable says nothing about the token: let it surface as a server error.
  if (err instanceof errors.JWKSTimeout || !(err instanceof errors.JOSEError)) return err instanceof Error ? err : new Error(String(err));
  return new AuthError("invalid_token", `the token is not valid (${describe(err)})`, { cause: err });
}

function describe(err: errors.JOSEError): string {
  if (err instanceof errors.JWSSignatureVerificationFailed) return "signature verification failed";
  if (err instanceof errors.JOSEAlgNotAllowed) return "algorithm not allowed";
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} ${err.reason === "check_failed" ? "is wrong" : err.reason}`;
  if (err instanceof errors.JWKSNoMatchingKey) return "no matching key";
  return "malformed";
}

/** RFC 4122 namespace of provider user ids (a fixed random UUID of this project). */
const PROVIDER_NAMESPACE = Buffer.from("5b0f3c2e8d4a4b7e9c61f2a7d3e8b190", "hex");

/**
 * The id an identity provider's user acts under here: a name-based UUID (version 5) of the provider's
 * issuer and `sub`. Always a UUID (no separator can reach a Redis key or a seat state), the same on
 * every node and across restarts, and never a local user's id (theirs are random version 4 UUIDs).
 */
export function providerUserId(issuer: string, sub: string): string {
  const h = createHash("sha1").update(PROVIDER_NAMESPACE).update(`${issuer}\n${sub}`, "utf8").digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
