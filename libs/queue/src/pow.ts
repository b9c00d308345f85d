import { createHash } from "node:crypto";

/** Longest nonce accepted (characters); the check is one SHA-256 of a bounded string, O(1). */
export const POW_NONCE_MAX = 64;

/**
 * The queue join's optional proof-of-work (`waiting_room.pow_bits`): the join carries `nonce`, and
 * SHA-256 of the UTF-8 string `<challenge>:<user id>:<nonce>` must start with `bits` zero bits. The
 * challenge is the event's (published in `GET /api/events/:id/waiting_room`), the user id binds the
 * work to one account, so a nonce cannot be shared or farmed for others.
 */
export function powDigest(challenge: string, userId: string, nonce: string): Buffer {
  return createHash("sha256").update(`${challenge}:${userId}:${nonce}`, "utf8").digest();
}

export function leadingZeroBits(digest: Uint8Array): number {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

export function checkPow(challenge: string, userId: string, nonce: string, bits: number): boolean {
  if (bits <= 0) return true;
  if (nonce.length === 0 || nonce.length > POW_NONCE_MAX) return false;
  return leadingZeroBits(powDigest(challenge, userId, nonce)) >= bits;
}

/** Finds a nonce, the first from `from` on (what a client does; tests and the load generator use it). */
export function solvePow(challenge: string, userId: string, bits: number, from = 0): string {
  for (let i = from; ; i++) if (checkPow(challenge, userId, String(i), bits)) return String(i);
}
