import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import type { Config } from "@seatdrop/config";
import type { Role } from "./roles.ts";

/** Who a token speaks for. */
export interface TokenSubject {
  /** The user's id (the JWT `sub`). */
  sub: string;
  role: Role;
  username?: string;
}

/** Issues the cluster's own access tokens. */
export interface TokenSigner {
  /** Signs an HS256 JWT for `subject`, valid for `JWT_TTL_SECONDS` unless `ttlSeconds` says otherwise. */
  sign(subject: TokenSubject, options?: { ttlSeconds?: number }): Promise<string>;
}

/** The part of the configuration a signer reads. */
export type TokenSignerConfig = Pick<Config, "JWT_SECRET" | "JWT_ISSUER" | "JWT_TTL_SECONDS"> & Partial<Pick<Config, "JWT_AUDIENCE">>;

/**
 * Creates a signer for HS256 tokens with the configured secret and issuer. Every token gets a random
 * `jti`, so one token can be revoked (sign-out) without touching the user's other sessions.
 *
 * @param options.now - the clock in milliseconds; tests pass a past clock to mint expired tokens.
 */
export function createTokenSigner(config: TokenSignerConfig, options: { now?: () => number } = {}): TokenSigner {
  const key = new TextEncoder().encode(config.JWT_SECRET);
  const now = options.now ?? Date.now;
  return {
    async sign(subject, signOptions = {}) {
      const nowMs = now();
      const issuedAt = Math.floor(nowMs / 1000);
      // `iat` counts whole seconds; a password change must end the sessions of its own second too.
      const claims: Record<string, unknown> = { role: subject.role, iat_ms: nowMs };
      if (subject.username !== undefined) claims.username = subject.username;
      const jwt = new SignJWT(claims);
      if (config.JWT_AUDIENCE) jwt.setAudience(config.JWT_AUDIENCE);
      return jwt
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(subject.sub)
        .setIssuer(config.JWT_ISSUER)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + (signOptions.ttlSeconds ?? config.JWT_TTL_SECONDS))
        .setJti(randomUUID())
        .sign(key);
    },
  };
}
