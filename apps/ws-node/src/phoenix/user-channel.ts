import { listNotifications } from "@seatdrop/chat";
import { joinRefusal, metrics } from "@seatdrop/observability";
import { chatUwsTopic, encodeReply, isUuid } from "@seatdrop/protocol";
import { sendTo, type Conn, type Join } from "../conn.ts";
import type { NodeContext } from "../context.ts";
import type { Channel } from "./channel.ts";

/** Unread notifications a join reply lists at most. */
const UNREAD_IN_REPLY = 50;

/**
 * `user:<userId>`: a user's personal notifications (a room opened, …), joinable only by that user.
 * The join reply lists the unread ones, so nothing stored is missed while disconnected; live ones
 * arrive as `notification` pushes. `join.eventId` holds the user id for this topic family.
 */
export class UserChannel implements Channel {
  constructor(private readonly ctx: NodeContext) {}

  async join(conn: Conn, join: Join, ref: string | null, _payload: Record<string, unknown>): Promise<void> {
    const userId = join.eventId;
    const current = () => !conn.closed && conn.joins.get(join.topic) === join;
    const refuse = (response: Record<string, unknown>) => {
      metrics.joinsRefused.inc({ channel: "user", reason: joinRefusal(response.reason) });
      if (current()) conn.joins.delete(join.topic);
      sendTo(conn, encodeReply(join.joinRef, ref, join.topic, "error", response));
    };
    // Only `user:<uuid>` names a user channel; anything else matches no topic at all, as Phoenix answers.
    if (!isUuid(userId)) return refuse({ reason: "unmatched topic" });
    if (!conn.userId) return refuse({ reason: "unauthorized", message: "sign in (connect with a token) to join your user channel" });
    if (conn.userId.toLowerCase() !== userId) return refuse({ reason: "unauthorized", message: "you may join only your own user channel (user:<your user id>)" });
    await this.ctx.chat.users.acquire(userId);
    let committed = false;
    try {
      if (!current()) return;
      // Subscribed before reading: a notification stored meanwhile is in the list, or pushed, or both (same id).
      conn.ws!.subscribe(chatUwsTopic.user(userId));
      const unread = await listNotifications({ db: this.ctx.chat.db, userId, status: "unread", limit: UNREAD_IN_REPLY });
      if (!current()) return;
      committed = true;
      join.live = true;
      sendTo(conn, encodeReply(join.joinRef, ref, join.topic, "ok", { user_id: userId, unread }));
    } finally {
      if (!committed) {
        this.ctx.chat.users.release(userId);
        // Unsubscribe only if no newer join of the same topic on this socket needs the subscription.
        const other = conn.joins.get(join.topic);
        if ((!other || other === join) && !conn.closed && conn.ws) conn.ws.unsubscribe(chatUwsTopic.user(userId));
      }
    }
  }

  async handle(conn: Conn, join: Join, ref: string | null, event: string): Promise<void> {
    sendTo(conn, encodeReply(join.joinRef, ref, join.topic, "error", { reason: "unsupported_event", message: `user channels only push; ${event} is not accepted` }));
  }

  leave(conn: Conn, join: Join): void {
    if (!join.live) return;
    join.live = false;
    if (!conn.closed && conn.ws) conn.ws.unsubscribe(chatUwsTopic.user(join.eventId));
    this.ctx.chat.users.release(join.eventId);
  }
}
