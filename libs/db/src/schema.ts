import { sql } from "drizzle-orm";
import { bigserial, boolean, check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

/**
 * The system of record. Redis holds only what is ephemeral and can be rebuilt from here.
 * Column names are snake_case in SQL and camelCase in TypeScript.
 */

export const users = pgTable(
  "users",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    username: text("username").notNull(),
    email: text("email").notNull(),
    /** scrypt hash written by the server (`scrypt$N$r$p$salt$hash`); never what a client sent. */
    passwordHash: text("password_hash").notNull(),
    role: text("role", { enum: ["user", "admin", "service"] }).notNull().default("user"),
    /**
     * Tokens issued before this moment are refused (a password change signs every session out:
     * docs/reliability.md, round one, finding 3). Null: every unexpired token counts.
     */
    tokensValidAfter: timestamp("tokens_valid_after", { withTimezone: true }),
    insertedAt: timestamp("inserted_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("users_email_key").on(sql`lower(${t.email})`), uniqueIndex("users_username_key").on(t.username)],
);

export const events = pgTable(
  "events",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    description: text("description").notNull(),
    location: text("location").notNull(),
    startTime: timestamp("start_time", { withTimezone: true }).notNull(),
    endTime: timestamp("end_time", { withTimezone: true }).notNull(),
    /** Per-event hold settings; NULL means the cluster default from the config. */
    holdTtlMs: integer("hold_ttl_ms"),
    holdMaxSeats: integer("hold_max_seats"),
    holdGraceMs: integer("hold_grace_ms"),
    holdMaxExtensions: integer("hold_max_extensions"),
    /** Box-office rules: when locks and orders are accepted, and how many seats one user may have. */
    salesOpenAt: timestamp("sales_open_at", { withTimezone: true }),
    salesCloseAt: timestamp("sales_close_at", { withTimezone: true }),
    maxSeatsPerUser: integer("max_seats_per_user"),
    /** When an admin froze the event's sales (ops console); NULL while sales run. Mirrored into the event's Redis meta hash as `paused`. */
    salesPausedAt: timestamp("sales_paused_at", { withTimezone: true }),
    /** How long a pending order waits for its payment; NULL means the cluster default. */
    paymentWindowMs: integer("payment_window_ms"),
    /**
     * The event's waiting room, NULL when it has none. Holds the room's secrets too (`seed`, kept
     * hidden until the draw at `sales_open_at`, and the proof-of-work `challenge`), so a Redis that
     * lost the room reloads the same commitment and draws with the same seed.
     */
    waitingRoom: jsonb("waiting_room").$type<WaitingRoomRecord>(),
    insertedAt: timestamp("inserted_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check("events_time_order", sql`${t.endTime} > ${t.startTime}`)],
);

/** `events.waiting_room`: the room's settings and secrets (libs/queue reads it; the API writes it). */
export interface WaitingRoomRecord {
  /** ISO time the pre-queue opens (before the event's `sales_open_at`, when the draw happens). */
  opens_at: string;
  /** How long an admitted buyer may shop (ms). */
  turn_ms: number;
  /** Cap on buyers shopping at once; null for none. */
  max_active: number | null;
  /** Leading zero bits the queue join's proof-of-work must have; 0 for none. */
  pow_bits: number;
  /** The draw's secret seed (hex, 256 bits), published after the draw; its SHA-256 is `commitment`. */
  seed: string;
  commitment: string;
  /** Per-event proof-of-work challenge (hex). */
  challenge: string;
  /** An operator paused admission (ops console); absent or false while it runs. */
  paused?: boolean;
}

/**
 * The published outcome of a waiting room's draw: the HMAC keys of the pre-queue's entrants in
 * queue order (no user ids), so each buyer can check their place and anyone the commitment. Written
 * once by the node that draws; a later draw of the same event (Redis lost the room) replaces it.
 */
export const waitingRoomDraws = pgTable("waiting_room_draws", {
  eventId: uuid("event_id")
    .primaryKey()
    .references(() => events.id, { onDelete: "cascade" }),
  seed: text("seed").notNull(),
  /** HMAC-SHA256(seed, user id) hex of each entrant, ascending (= queue order). */
  keys: text("keys").array().notNull(),
  drawnAt: timestamp("drawn_at", { withTimezone: true }).notNull().defaultNow(),
});

/** An event's seat map: one row per seat, its id unique within the event (e.g. `A_2_2`). */
export const seats = pgTable(
  "seats",
  {
    eventId: uuid("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    seatId: text("seat_id").notNull(),
    section: text("section"),
    row: text("row"),
    number: integer("number"),
    /** Price in the smallest currency unit (cents), so sums never round. */
    priceCents: integer("price_cents").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.eventId, t.seatId] }), check("seats_price_nonnegative", sql`${t.priceCents} >= 0`)],
);

export const chatRooms = pgTable(
  "chat_rooms",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    eventId: uuid("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    status: text("status", { enum: ["inactive", "active"] }).notNull().default("inactive"),
    activatedAt: timestamp("activated_at", { withTimezone: true }),
    archivedAt: timestamp("archived_at", { withTimezone: true }),
    insertedAt: timestamp("inserted_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("chat_rooms_event_key").on(t.eventId)],
);

/** Tickets as the chat service's box office defines them; paid orders issue them too (one per seat). */
export const tickets = pgTable(
  "tickets",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    eventId: uuid("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    ticketNumber: text("ticket_number").notNull(),
    userId: uuid("user_id").references(() => users.id, { onDelete: "set null" }),
    /** Set for tickets issued by a paid order. */
    orderId: uuid("order_id").references(() => orders.id, { onDelete: "set null" }),
    seatId: text("seat_id"),
    status: text("status", { enum: ["valid", "void"] }).notNull().default("valid"),
    /** When the ticket was claimed to enter the event's chat room (the chat service's "mark ticket as used"). */
    usedAt: timestamp("used_at", { withTimezone: true }),
    insertedAt: timestamp("inserted_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("tickets_number_key").on(t.ticketNumber), index("tickets_event_idx").on(t.eventId), index("tickets_user_idx").on(t.userId)],
);

export const orders = pgTable(
  "orders",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    eventId: uuid("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "restrict" }),
    status: text("status", { enum: ["pending", "paid", "canceled", "expired", "refunded"] }).notNull().default("pending"),
    totalCents: integer("total_cents").notNull(),
    currency: text("currency").notNull().default("EUR"),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    paidAt: timestamp("paid_at", { withTimezone: true }),
    closedAt: timestamp("closed_at", { withTimezone: true }),
    insertedAt: timestamp("inserted_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("orders_user_idx").on(t.userId), index("orders_event_status_idx").on(t.eventId, t.status)],
);

/**
 * One row per seat of an order. `live` is true while the order is pending or paid; the partial
 * unique index makes a double sale impossible even if Redis is flushed or wrong.
 */
export const orderItems = pgTable(
  "order_items",
  {
    orderId: uuid("order_id")
      .notNull()
      .references(() => orders.id, { onDelete: "cascade" }),
    eventId: uuid("event_id").notNull(),
    seatId: text("seat_id").notNull(),
    priceCents: integer("price_cents").notNull(),
    live: boolean("live").notNull().default(true),
  },
  (t) => [
    primaryKey({ columns: [t.orderId, t.seatId] }),
    uniqueIndex("order_items_live_seat_key").on(t.eventId, t.seatId).where(sql`${t.live}`),
  ],
);

/** Every payment confirmation received, whatever became of it (idempotent by the provider's id). */
export const payments = pgTable("payments", {
  id: text("id").primaryKey(),
  /** The order it pays; NULL when the provider named no order of ours (then only providerOrderRef says what it named). */
  orderId: uuid("order_id"),
  /** The order reference the provider sent (lower-cased, as every order reference is read), kept even when it is not one of our order ids. */
  providerOrderRef: text("provider_order_ref"),
  amountCents: integer("amount_cents").notNull(),
  currency: text("currency").notNull(),
  status: text("status", { enum: ["succeeded", "failed"] }).notNull(),
  /** A payment that arrived for an order that could no longer be paid: money to give back. */
  flaggedForRefund: boolean("flagged_for_refund").notNull().default(false),
  note: text("note"),
  receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Every delivery of the payment provider, one row per provider event (its own id when it sends one,
 * else `<payment id>:<status>`): the deduplication key. A payment id alone is not one, because a
 * payment that failed and then succeeded is two events (docs/reliability.md, round one, finding 4).
 */
export const paymentEvents = pgTable(
  "payment_events",
  {
    id: text("id").primaryKey(),
    paymentId: text("payment_id").notNull(),
    status: text("status", { enum: ["succeeded", "failed"] }).notNull(),
    amountCents: integer("amount_cents").notNull(),
    currency: text("currency").notNull(),
    /** What processing it did: paid, payment_failed, flagged_for_refund, ignored. */
    result: text("result").notNull(),
    note: text("note"),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("payment_events_payment_idx").on(t.paymentId)],
);

/**
 * Signed-out tokens (the deny list's record; Redis holds a cache of it). A row lives until the token
 * would have expired anyway, so a Redis restart does not un-revoke a token (docs/reliability.md,
 * round one, finding 11).
 */
export const revokedTokens = pgTable(
  "revoked_tokens",
  {
    jti: text("jti").primaryKey(),
    userId: text("user_id"),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    revokedAt: timestamp("revoked_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("revoked_tokens_expires_idx").on(t.expiresAt)],
);

/** Idempotency-Key records of write routes: the same key and body replays the first response. */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    route: text("route").notNull(),
    requestHash: text("request_hash").notNull(),
    statusCode: integer("status_code"),
    response: jsonb("response"),
    insertedAt: timestamp("inserted_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] })],
);

/** Every seat and order transition, so an operator can answer "what happened to seat A_12". */
export const seatAudit = pgTable(
  "seat_audit",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    eventId: uuid("event_id").notNull(),
    seatId: text("seat_id"),
    orderId: uuid("order_id"),
    action: text("action").notNull(),
    actor: text("actor"),
    detail: jsonb("detail"),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("seat_audit_seat_idx").on(t.eventId, t.seatId, t.at), index("seat_audit_order_idx").on(t.orderId)],
);

export const messages = pgTable(
  "messages",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    chatRoomId: uuid("chat_room_id")
      .notNull()
      .references(() => chatRooms.id, { onDelete: "cascade" }),
    userId: uuid("user_id").references(() => users.id, { onDelete: "set null" }),
    content: text("content").notNull(),
    contentType: text("content_type").notNull().default("text"),
    insertedAt: timestamp("inserted_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("messages_room_time_idx").on(t.chatRoomId, t.insertedAt)],
);

/** Messages of rooms whose event ended: kept for admins, never served to the room. */
export const messageArchive = pgTable(
  "message_archive",
  {
    id: uuid("id").primaryKey(),
    chatRoomId: uuid("chat_room_id").notNull(),
    userId: uuid("user_id"),
    content: text("content").notNull(),
    contentType: text("content_type").notNull(),
    insertedAt: timestamp("inserted_at", { withTimezone: true }).notNull(),
    archivedAt: timestamp("archived_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("message_archive_room_idx").on(t.chatRoomId, t.insertedAt)],
);

export const notifications = pgTable(
  "notifications",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    eventId: uuid("event_id").references(() => events.id, { onDelete: "cascade" }),
    message: text("message").notNull(),
    status: text("status", { enum: ["unread", "read"] }).notNull().default("unread"),
    insertedAt: timestamp("inserted_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("notifications_user_idx").on(t.userId, t.insertedAt)],
);
