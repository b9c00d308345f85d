import type { SessionStore, VerifiedToken } from "@seatdrop/auth";

/**
 * Signs one token out: recorded in PostgreSQL (`revoked_tokens`, so a Redis restart does not
 * un-revoke it: docs/reliability.md, round one, finding 11), cached in Redis until the token would
 * have expired anyway, and announced so every ws-node closes the sockets still open with it (4401).
 * Safe to run twice.
 */
export async function revokeToken(o: { sessions: SessionStore; token: Pick<VerifiedToken, "jti" | "exp" | "userId"> }): Promise<void> {
  await o.sessions.revoke(o.token);
}
