import type { VerifiedToken } from "@seatdrop/auth";
import type { Keys, Redis } from "@seatdrop/redis";

/**
 * Puts a token on the deny list until the moment it would have expired anyway (`EXAT`), so the list
 * never outgrows the set of tokens that are still otherwise valid, and tells every ws-node. Safe to
 * run twice.
 */
export async function revokeToken(o: { redis: Redis; keys: Keys; token: Pick<VerifiedToken, "jti" | "exp"> }): Promise<void> {
  if (o.token.exp * 1000 <= Date.now()) return; // already expired: nothing left to deny
  await o.redis.set(o.keys.deniedToken(o.token.jti), "1", "EXAT", o.token.exp);
  // Sockets already open with this token are closed by their ws-nodes (close code 4401).
  await o.redis.publish(o.keys.revokedTokens, o.token.jti);
}
