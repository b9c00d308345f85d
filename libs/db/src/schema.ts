import { sql } from "drizzle-orm";
import { check, index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

/**
 * The system of record (DESIGN §3.7). Redis holds only what is ephemeral and can be rebuilt from here.
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
    /** Per-event hold settings (DESIGN §3.3); NULL means the cluster default from the config. */
    holdTtlMs: integer("hold_ttl_ms"),
    holdMaxSeats: integer("hold_max_seats"),
    holdGraceMs: integer("hold_grace_ms"),
    holdMaxExtensions: integer("hold_max_extensions"),
    insertedAt: timestamp("inserted_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check("events_time_order", sql`${t.endTime} > ${t.startTime}`)],
);

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
    status: text("status", { enum: ["inactive", "active", "archived"] }).notNull().default("inactive"),
    insertedAt: timestamp("inserted_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("chat_rooms_event_key").on(t.eventId)],
);

/** Tickets as seed 003 defines them; orders (issue 3) will issue them too. */
export const tickets = pgTable(
  "tickets",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    eventId: uuid("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    ticketNumber: text("ticket_number").notNull(),
    userId: uuid("user_id").references(() => users.id, { onDelete: "set null" }),
    insertedAt: timestamp("inserted_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("tickets_number_key").on(t.ticketNumber), index("tickets_event_idx").on(t.eventId)],
);
