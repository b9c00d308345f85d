import { chatBusEventSchema, presenceEntrySchema, type ChatBusEvent, type ChatBusMessage, type NotificationView, type UserBusMessage } from "@seatdrop/protocol";
import type { Keys, Redis } from "@seatdrop/redis";
import { decodeBus, entryFields, readSequencedRange, seqOfEntry, type PresenceEntry } from "@seatdrop/streams";
import { ChatError } from "./errors.ts";
import { decodeChatEmit, decodeChatRate, decodePresenceBatch, decodePresenceLeave, decodeTyping, registerChatScripts, type ChatScriptCaller } from "./scripts.ts";

/** A presence entry as stored in a room's presence hash: the meta plus its user (libs/streams). */
export type { PresenceEntry };

/** The room's position in its total order. */
export interface RoomSeq {
  seq: number;
  epoch: string | null;
}

/**
 * Everything chat writes to and reads from Redis, for every app: sequenced room events (messages,
 * presence diffs, status changes), unsequenced typing notices, presence entries, the per-user
 * message rate, and personal notifications. Each change others must see is one Lua script
 * (../lua), so state and publish never disagree.
 */
export class ChatBus {
  private readonly call: ChatScriptCaller;

  constructor(
    private readonly redis: Redis,
    readonly keys: Keys,
  ) {
    this.call = registerChatScripts(redis);
  }

  /** Appends an event to the room's order and publishes it; returns its sequence number. */
  async emit(eventId: string, ev: ChatBusEvent, origin = ""): Promise<number> {
    const k = this.keys.chat(eventId);
    return decodeChatEmit(await this.call("chatEmit", k.script, [JSON.stringify(ev), origin])).seq;
  }

  /** Publishes a typing notice unless the user sent the same kind within `throttleMs`; true when published. */
  async typing(o: { eventId: string; userId: string; typing: boolean; throttleMs: number; origin: string }): Promise<boolean> {
    const k = this.keys.chat(o.eventId);
    const ev: ChatBusEvent = { k: "typing", user_id: o.userId, typing: o.typing };
    return decodeTyping(await this.call("typing", [k.typing(o.userId, o.typing), k.channel], [o.throttleMs, JSON.stringify(ev), o.origin]));
  }

  /**
   * Counts one message of a user against the room's rate (across nodes) and its slow mode; throws
   * `rate_limited` with the wait when the window is full or the member must wait under slow mode.
   */
  async takeMessageSlot(o: { eventId: string; userId: string; limit: number; windowMs: number }): Promise<void> {
    const k = this.keys.chat(o.eventId);
    const r = decodeChatRate(await this.call("chatRate", [k.rate(o.userId), k.slow, k.slowGate(o.userId)], [o.windowMs, o.limit]));
    if (r.ok) return;
    const n = r.waitMs;
    if (r.why === "slow")
      throw new ChatError("rate_limited", `slow mode: one message per member every few seconds; retry in ${Math.ceil(n / 1000)} s`, { retry_after_ms: n, slow_mode: true });
    throw new ChatError("rate_limited", `at most ${o.limit} messages per ${o.windowMs / 1000} s; retry in ${Math.ceil(n / 1000)} s`, {
      retry_after_ms: n,
    });
  }

  /** Sets (seconds > 0) or clears (0) a room's slow mode, and tells the room; live on every node at once. */
  async setSlowMode(eventId: string, seconds: number): Promise<void> {
    const k = this.keys.chat(eventId);
    if (seconds > 0) await this.redis.set(k.slow, String(seconds));
    else await this.redis.del(k.slow);
    await this.emit(eventId, { k: "slow_mode", seconds });
  }

  /** A room's slow mode in seconds (0 = off). */
  async slowMode(eventId: string): Promise<number> {
    return Number((await this.redis.get(this.keys.chat(eventId).slow)) ?? 0);
  }

  /**
   * Applies one node's presence changes of a tick in a room (entries to add, fields to remove) and
   * announces them as one diff; returns its sequence number (0 when nothing changed).
   */
  async presenceBatch(o: { eventId: string; add: { field: string; entry: PresenceEntry }[]; remove: string[]; origin?: string }): Promise<{ seq: number; epoch: string }> {
    const k = this.keys.chat(o.eventId);
    const args: (string | number)[] = [o.origin ?? "", o.add.length];
    for (const a of o.add) args.push(a.field, JSON.stringify(a.entry));
    args.push(...o.remove);
    const { seq, epoch } = decodePresenceBatch(await this.call("presenceBatch", k.script, args));
    return { seq, epoch };
  }

  /**
   * The room's position and presence entries at that position, read atomically (MULTI): a node's
   * presence starts here and follows the diffs with a greater seq.
   */
  async presenceSnapshot(eventId: string): Promise<{ seq: number; epoch: string | null; entries: PresenceEntry[] }> {
    const k = this.keys.chat(eventId);
    const r = await this.redis.multi().hmget(k.seq, "n", "ep").hvals(k.presence).exec();
    if (!r) throw new Error("presence snapshot: transaction aborted");
    const [e1, pos] = r[0]!;
    const [e2, vals] = r[1]!;
    if (e1 || e2) throw e1 ?? e2;
    const [n, ep] = pos as (string | null)[];
    return { seq: Number(n ?? 0), epoch: ep ?? null, entries: (vals as string[]).map(decodePresence) };
  }

  /** Removes presence entries (by field) and announces the leaves; returns how many were there. */
  async presenceLeave(o: { eventId: string; fields: string[]; origin?: string }): Promise<number> {
    if (o.fields.length === 0) return 0;
    const k = this.keys.chat(o.eventId);
    return decodePresenceLeave(await this.call("presenceLeave", k.script, [o.origin ?? "", "fields", ...o.fields])).removed;
  }

  /** Removes every presence entry a (dead) node had in a room and announces the leaves. */
  async presenceReapNode(o: { eventId: string; nodeId: string }): Promise<number> {
    const k = this.keys.chat(o.eventId);
    return decodePresenceLeave(await this.call("presenceLeave", k.script, ["", "node", o.nodeId])).removed;
  }

  /** The room's entries now (for tests and admin views). */
  async presenceEntries(eventId: string): Promise<PresenceEntry[]> {
    const vals = await this.redis.hvals(this.keys.chat(eventId).presence);
    return vals.map(decodePresence);
  }

  /**
   * After a Redis Cluster failover of the room's shard, which may have lost its last messages: the
   * room's counter is dropped, so its next event starts a new epoch with an empty log (chatLib's
   * emit), and every node resyncs its members from there, as after a Redis restart.
   */
  async restartEpoch(eventId: string): Promise<void> {
    await this.redis.hdel(this.keys.chat(eventId).seq, "n");
  }

  async currentSeq(eventId: string): Promise<RoomSeq> {
    const [n, ep] = await this.redis.hmget(this.keys.chat(eventId).seq, "n", "ep");
    return { seq: Number(n ?? 0), epoch: ep ?? null };
  }

  /**
   * Sequenced events `from..to` from the room's log, or null when the log no longer reaches back
   * that far (or Redis lost the room) and the caller must resynchronise instead.
   */
  async readLog(eventId: string, from: number, to: number): Promise<ChatBusMessage[] | null> {
    if (to < from) return [];
    const [entries, ep] = await Promise.all([
      readSequencedRange(this.redis, this.keys.chat(eventId).log, from, to),
      this.redis.hget(this.keys.chat(eventId).seq, "ep"),
    ]);
    if (entries === null) return null;
    const out: ChatBusMessage[] = [];
    for (const entry of entries) {
      const f = entryFields(entry);
      const msg: ChatBusMessage = { s: seqOfEntry(entry), ev: decodeBus(chatBusEventSchema, f.m ?? "null", "chat log entry") };
      if (ep) msg.ep = ep;
      if (f.o) msg.o = f.o;
      out.push(msg);
    }
    if (out.length !== to - from + 1) return null;
    return out;
  }

  /** Pushes a stored notification to its user's connections, wherever they are. */
  async publishNotification(userId: string, n: NotificationView): Promise<void> {
    const msg: UserBusMessage = { k: "notification", n };
    await this.redis.spublish(this.keys.userChannel(userId), JSON.stringify(msg));
  }
}

function decodePresence(text: string): PresenceEntry {
  return decodeBus(presenceEntrySchema, text, "presence entry");
}
