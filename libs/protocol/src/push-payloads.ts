import { z } from "zod";
import { SEAT_ID_RE, UUID_RE } from "./ids.ts";

/**
 * Schemas of the join and push payloads the Phoenix channels accept, and the one
 * {@link parsePush} that reads them. A refusal names the first bad field, in the order the fields
 * are declared, with the message the reply has always carried.
 */

/** Sections one seat join may name; a venue watched one section at a time needs few. */
export const MAX_SECTIONS = 64;
/** Longest `ticket_number` a chat join may carry. */
export const TICKET_NUMBER_MAX = 64;

/** Longest waiting-room pass a seat join may carry, and proof-of-work nonce a queue join may carry. */
export const PASS_MAX = 128;
export const NONCE_MAX = 64;
const passMessage = `pass must be the string an admitted push gave (at most ${PASS_MAX} characters)`;
const nonceMessage = `nonce must be a string of 1 to ${NONCE_MAX} characters`;

/** A value that may be left out or sent as `null`. */
const nullish = <T extends z.ZodType>(s: T) => s.nullish();

const sectionsMessage = `sections must be a list of 1 to ${MAX_SECTIONS} section names`;

/** `phx_join` on `seats:<eventId>`. */
export const seatJoinPayload = z
  .object({
    last_seq: nullish(z.number({ error: "last_seq must be a non-negative integer" }).int({ error: "last_seq must be a non-negative integer" }).min(0, { error: "last_seq must be a non-negative integer" })),
    epoch: nullish(z.string({ error: "epoch must be the string a join reply gave" })),
    changes: nullish(z.boolean({ error: "changes must be true or false" })),
    sections: nullish(
      z
        .array(z.string({ error: sectionsMessage }).min(1, { error: sectionsMessage }).max(64, { error: sectionsMessage }), { error: sectionsMessage })
        .min(1, { error: sectionsMessage })
        .max(MAX_SECTIONS, { error: sectionsMessage }),
    ),
    // The waiting room's pass (its syntax and signature are the node's to judge: a bad one still watches).
    pass: nullish(z.string({ error: passMessage }).min(1, { error: passMessage }).max(PASS_MAX, { error: passMessage })),
  })
  // Per-change events have no notion of sections; serving them would mean filtering every event per socket.
  .refine((p) => !p.sections || p.changes === true, { path: ["sections"], error: "sections are served only with changes: true" })
  .transform((p) => ({
    lastSeq: p.last_seq ?? undefined,
    epoch: p.epoch ?? undefined,
    changes: p.changes === true,
    sections: p.sections ? [...new Set(p.sections)] : null,
    pass: p.pass ?? undefined,
  }));

/** `phx_join` on `queue:<eventId>` (the waiting room). */
export const queueJoinPayload = z.object({
  // The proof-of-work nonce, when the room asks for one (libs/queue/src/pow.ts says how it is checked).
  nonce: nullish(z.string({ error: nonceMessage }).min(1, { error: nonceMessage }).max(NONCE_MAX, { error: nonceMessage })),
});

const seatPayload = z.object({ seat: z.string({ error: "seat must be a seat id such as A_2_2" }).regex(SEAT_ID_RE, { error: "seat must be a seat id such as A_2_2" }) });

/**
 * Most seats one best-available push may ask for; the event's own hold limit (usually far lower)
 * is the lock script's to enforce, with `hold_limit` like a lock.
 */
export const BEST_AVAILABLE_MAX = 100;
const countMessage = `count must be an integer from 1 to the event's hold limit (at most ${BEST_AVAILABLE_MAX})`;
const bestSectionMessage = "section must be one of the event's section names (GET /api/events/:id/layout lists them)";
const maxPriceMessage = "max_price must be a non-negative number, in the layout's price units (45.5 = 45.50)";

/** `best_available` on `seats:<eventId>`: the best block of `count` adjacent seats in one row. */
export const bestAvailablePayload = z
  .object({
    count: z.number({ error: countMessage }).int({ error: countMessage }).min(1, { error: countMessage }).max(BEST_AVAILABLE_MAX, { error: countMessage }),
    section: nullish(z.string({ error: bestSectionMessage }).min(1, { error: bestSectionMessage }).max(64, { error: bestSectionMessage })),
    max_price: nullish(z.number({ error: maxPriceMessage }).min(0, { error: maxPriceMessage }).finite({ error: maxPriceMessage })),
  })
  .transform((p) => ({
    count: p.count,
    section: p.section ?? undefined,
    // Cents, as the layout stores prices; a fraction of a cent rounds down (never a seat above the bound).
    maxPriceCents: p.max_price === null || p.max_price === undefined ? undefined : Math.floor(p.max_price * 100 + 1e-6),
  }));

/** Pushes on `seats:<eventId>`. */
export const seatPushPayloads = {
  lock: seatPayload,
  unlock: seatPayload,
  extend: z.object({}),
  best_available: bestAvailablePayload,
} as const;

/** `phx_join` on `event:<eventId>` (chat). */
export const chatJoinPayload = z.object({
  ticket_number: z
    .string({ error: `ticket_number must be a string of 1 to ${TICKET_NUMBER_MAX} characters` })
    .min(1, { error: `ticket_number must be a string of 1 to ${TICKET_NUMBER_MAX} characters` })
    .max(TICKET_NUMBER_MAX, { error: `ticket_number must be a string of 1 to ${TICKET_NUMBER_MAX} characters` })
    .optional(),
  batch: z.boolean({ error: "batch must be true or false" }).optional(),
});

/** `user_typing` on a chat room. */
export const chatTypingPayload = z.object({ typing: z.boolean({ error: "typing must be true or false" }) });

/**
 * `history` on a chat room; `limit`'s bound is the deployment's CHAT_HISTORY_LIMIT. `new_message`
 * has no schema here: its content rules (blank, too long, control characters) are the chat
 * service's, which answers with their own reasons.
 */
export function chatHistoryPayload(maxLimit: number) {
  const limitMessage = `limit must be an integer from 1 to ${maxLimit}`;
  return z.object({
    before: nullish(z.string({ error: "before must be the id of a message" }).regex(UUID_RE, { error: "before must be the id of a message" })),
    limit: z
      .number({ error: limitMessage })
      .int({ error: limitMessage })
      .min(1, { error: limitMessage })
      .max(maxLimit, { error: limitMessage })
      .optional(),
  });
}

/** How a payload is refused: the reply's `reason`, the field at fault and why. */
export interface MalformedPayload {
  reason: "malformed_payload";
  field: string;
  message: string;
}

export type ParsedPush<T> = { ok: true; value: T } | { ok: false; error: MalformedPayload };

/** Reads a join or push payload against its schema; on failure names the first bad field. */
export function parsePush<S extends z.ZodType>(schema: S, payload: unknown): ParsedPush<z.output<S>> {
  const r = schema.safeParse(payload);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0]!;
  const field = issue.path.length > 0 ? String(issue.path[0]) : "payload";
  return { ok: false, error: { reason: "malformed_payload", field, message: issue.message } };
}
