import { createHash, createHmac, randomBytes } from "node:crypto";

/**
 * The waiting room's verifiable draw. When the pre-queue opens the room already has a secret `seed`
 * (256 random bits, hex) and publishes `commitment` = SHA-256 hex of the seed's UTF-8 bytes. At
 * `sales_open_at` everyone in the pre-queue is ordered by `drawKey(seed, userId)` ascending, and the
 * seed is published with the keys in queue order: a buyer recomputes their own key and finds their
 * place, anyone recomputes the commitment. The seed was fixed before anyone joined the pre-queue
 * and kept secret until it closed, so neither the operator nor a buyer could steer the order.
 */
export function commitmentOf(seed: string): string {
  return createHash("sha256").update(seed, "utf8").digest("hex");
}

/** HMAC-SHA256(key = the seed's UTF-8 bytes, message = the user id's UTF-8 bytes), hex. */
export function drawKey(seed: string, userId: string): string {
  return createHmac("sha256", Buffer.from(seed, "utf8")).update(userId, "utf8").digest("hex");
}

/** The room's secrets, made once when the room is created: the draw's seed, its commitment, the proof-of-work challenge. */
export function newRoomSecrets(): { seed: string; commitment: string; challenge: string } {
  const seed = randomBytes(32).toString("hex");
  return { seed, commitment: commitmentOf(seed), challenge: randomBytes(16).toString("hex") };
}

/** Orders entrants by their draw key; returns the ids and keys in queue order. */
export function drawOrder(seed: string, userIds: Iterable<string>): { users: string[]; keys: string[] } {
  const keyed = [...userIds].map((u) => ({ u, k: drawKey(seed, u) }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return { users: keyed.map((x) => x.u), keys: keyed.map((x) => x.k) };
}
