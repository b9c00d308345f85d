import { listNotifications } from "@seatdrop/chat";
import { chatUwsTopic, isUuid } from "@seatdrop/protocol";
import type { NodeContext } from "../context.ts";
import { Refusal, type ChannelModule, type Joining, type Pushing } from "./channel.ts";

/** Unread notifications a join reply lists at most. */
const UNREAD_IN_REPLY = 50;

/**
 * `user:<userId>`: a user's personal notifications (a room opened, …), joinable only by that user.
 * The join reply lists the unread ones, so nothing stored is missed while disconnected; live ones
 * arrive as `notification` pushes.
 */
export class UserChannel implements ChannelModule<{ userId: string }> {
  readonly label = "user";

  constructor(private readonly ctx: NodeContext) {}

  async join(j: Joining<{ userId: string }>): Promise<void> {
    const userId = j.subtopic;
    const { conn } = j;
    // Only `user:<uuid>` names a user channel; anything else matches no topic at all, as Phoenix answers.
    if (!isUuid(userId)) return j.refuse({ reason: "unmatched topic" });
    if (!conn.userId) return j.refuse({ reason: "unauthorized", message: "sign in (connect with a token) to join your user channel" });
    if (conn.userId.toLowerCase() !== userId) return j.refuse({ reason: "unauthorized", message: "you may join only your own user channel (user:<your user id>)" });
    await this.ctx.chat.users.acquire(userId);
    j.onLeave(() => this.ctx.chat.users.release(userId));
    if (!j.current()) return;
    // Subscribed before reading: a notification stored meanwhile is in the list, or pushed, or both (same id).
    j.subscribe(chatUwsTopic.user(userId));
    const unread = await listNotifications({ db: this.ctx.chat.db, userId, status: "unread", limit: UNREAD_IN_REPLY });
    if (!j.current()) return;
    j.accept({ user_id: userId, unread }, { userId });
  }

  async handle(p: Pushing<{ userId: string }>): Promise<Record<string, unknown>> {
    throw new Refusal({ reason: "unsupported_event", message: `user channels only push; ${p.event} is not accepted` });
  }
}
