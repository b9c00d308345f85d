import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; // Crockford base32: no I, L, O, U to misread

/**
 * A ticket number nobody can guess: 80 random bits as 16 Crockford base32 characters, grouped for
 * reading aloud at a door (`TKT-7Q2M-9XKD-04HV-RB3N`).
 */
export function newTicketNumber(): string {
  const bytes = randomBytes(10);
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return `TKT-${out.match(/.{4}/g)!.join("-")}`;
}
