import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * A waiting room's pass: what lets an admitted buyer lock seats of the event until their turn ends.
 * `<expires_at ms, base 10>.<signature>`, the signature HMAC-SHA256 over `event|user|expires_at`
 * with a key derived from the cluster's JWT secret. It is bound to its user and event (the node
 * checks it against the socket's user and the topic's event, so another user's pass is refused like
 * none) and checked on the node without a Redis round trip; it needs no storage: the room's Redis
 * record of the admission says the same, and a node that lost it can sign it again.
 */
export class PassSigner {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = createHmac("sha256", secret).update("seatdrop/queue-pass/v1").digest();
  }

  sign(eventId: string, userId: string, expiresAt: number): string {
    return `${expiresAt}.${this.mac(eventId, userId, expiresAt).toString("base64url")}`;
  }

  /**
   * What a presented pass is worth for this user and event at `now`: `ok` with its end, or why not.
   * `malformed`: not a pass at all (the join names the field); the other refusals look alike to the
   * client (`not_admitted` when it locks).
   */
  verify(pass: string, eventId: string, userId: string, now = Date.now()): { ok: true; expiresAt: number } | { ok: false; why: "malformed" | "forged" | "expired" } {
    const m = /^(\d{13,16})\.([A-Za-z0-9_-]{43})$/.exec(pass);
    if (!m) return { ok: false, why: "malformed" };
    const expiresAt = Number(m[1]);
    const given = Buffer.from(m[2]!, "base64url");
    const want = this.mac(eventId, userId, expiresAt);
    if (given.length !== want.length || !timingSafeEqual(given, want)) return { ok: false, why: "forged" };
    if (expiresAt <= now) return { ok: false, why: "expired" };
    return { ok: true, expiresAt };
  }

  private mac(eventId: string, userId: string, expiresAt: number): Buffer {
    return createHmac("sha256", this.key).update(`${eventId}|${userId}|${expiresAt}`).digest();
  }
}
