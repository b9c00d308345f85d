import { z } from "zod";
import type { ChatBusEvent, ChatBusMessage, PresenceMeta, UserBusMessage } from "./chat-frames.ts";
import type { SeatEvent, SeatMessage } from "./seat-events.ts";

/**
 * Schemas of the internal messages Redis carries between the scripts and the ws-nodes: seat events
 * (published and logged by libs/seats/lua), chat room events (libs/chat/lua), user notifications,
 * presence entries. Whatever reads one from Redis decodes it with these at the boundary
 * (libs/streams, `decodeBus`), so a malformed or foreign message is refused there, naming the
 * field, instead of travelling on as a cast. Objects are loose: a field added by a newer script
 * passes through to code that knows it.
 */

const seatEventType = z.enum(["locked", "unlocked", "reserved", "unreserved", "paid", "unpaid"]);

export const seatEventSchema = z.looseObject({
  seq: z.number().int().nonnegative(),
  t: seatEventType,
  seat: z.string(),
  u: z.string().optional(),
  why: z.string().optional(),
  o: z.string().optional(),
}) satisfies z.ZodType<SeatEvent>;

export const seatMessageSchema = z.looseObject({
  ev: z.array(seatEventSchema),
  o: z.string().optional(),
  ep: z.string().optional(),
  at: z.number().optional(),
}) satisfies z.ZodType<SeatMessage>;

const presenceMetaSchema = z.looseObject({ phx_ref: z.string(), online_at: z.number() }) satisfies z.ZodType<PresenceMeta>;
const presenceMapSchema = z.record(z.string(), z.object({ metas: z.array(presenceMetaSchema) }));

/** One presence entry as the room's hash stores it: a meta and its user. */
export const presenceEntrySchema = presenceMetaSchema.extend({ user_id: z.string() });

const messageView = {
  id: z.string(),
  user_id: z.string().nullable(),
  content: z.string(),
  content_type: z.string(),
  inserted_at: z.string(),
};

export const chatBusEventSchema = z.discriminatedUnion("k", [
  z.looseObject({ k: z.literal("message"), ...messageView }),
  z.looseObject({ k: z.literal("messages"), messages: z.array(z.looseObject({ ...messageView, o: z.string().optional() })) }),
  z.looseObject({ k: z.literal("slow_mode"), seconds: z.number() }),
  z.looseObject({ k: z.literal("presence"), joins: presenceMapSchema, leaves: presenceMapSchema }),
  z.looseObject({ k: z.literal("status"), status: z.enum(["inactive", "active"]), reason: z.string().optional() }),
  z.looseObject({ k: z.literal("typing"), user_id: z.string(), typing: z.boolean() }),
]) satisfies z.ZodType<ChatBusEvent>;

export const chatBusMessageSchema = z.looseObject({
  s: z.number().int().nonnegative(),
  ep: z.string().optional(),
  o: z.string().optional(),
  ev: chatBusEventSchema,
}) satisfies z.ZodType<ChatBusMessage>;

export const userBusMessageSchema = z.looseObject({
  k: z.literal("notification"),
  n: z.looseObject({ id: z.string(), event_id: z.string().nullable(), message: z.string(), status: z.enum(["unread", "read"]), inserted_at: z.string() }),
}) satisfies z.ZodType<UserBusMessage>;
