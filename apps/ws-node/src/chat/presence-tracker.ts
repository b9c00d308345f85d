import { randomBytes } from "node:crypto";
import type { ChatBus, PresenceEntry } from "@seatdrop/chat";
import { metrics, type Logger } from "@seatdrop/observability";
import type { Keys, Redis } from "@seatdrop/redis";

/** A presence entry this node wrote and must remove (or re-write after being reaped). */
interface LocalEntry {
  eventId: string;
  entry: PresenceEntry;
}

/**
 * This node's side of chat presence.
 *
 * Each joined connection is one entry in its room's presence hash, under the field
 * `<nodeId>|<phx_ref>`, so one user's tabs are several metas under one key. A node proves it is
 * alive with a heartbeat key (PX = CHAT_PRESENCE_TTL_MS, refreshed five times per TTL) and lists
 * the rooms it has entries in. Every node, on every beat, looks for registered nodes whose heartbeat
 * is gone and removes their entries room by room (one script per room, announcing the leaves):
 * a node that crashed stops counting its users within one TTL and a beat, without anyone's clean leave.
 * A node that was only paused and got reaped notices its own heartbeat had lapsed and writes its
 * entries again.
 */
/** Every tracker of this process (one per node; tests run several), summed into the presence gauge. */
const trackers = new Set<PresenceTracker>();
function countPresence(): void {
  let n = 0;
  for (const t of trackers) n += t.localEntries;
  metrics.chatPresenceOnline.set(n);
}

export class PresenceTracker {
  private readonly local = new Map<string, LocalEntry>();
  private readonly inflight = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private started = false;
  private readonly log: Logger;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly bus: ChatBus,
    readonly nodeId: string,
    private readonly ttlMs: number,
    logger: Logger,
  ) {
    this.log = logger.child({ module: "presence" });
    trackers.add(this);
  }

  /** Entries (joined connections) this node holds, over all rooms. */
  get localEntries(): number {
    return this.local.size;
  }

  /**
   * Clears what an earlier process with this node id left behind (its heartbeat kept them from
   * being reaped), then starts beating.
   */
  async start(): Promise<void> {
    await this.reapNode(this.nodeId);
    await this.beat();
    this.started = true;
    this.timer = setInterval(() => void this.beat(), Math.max(100, Math.floor(this.ttlMs / 5)));
    this.timer.unref();
  }

  /**
   * Adds a connection's entry to a room; resolves with its field, phx_ref and the sequence number of
   * the diff that announced it (the node's feed shows the entry once it has applied that seq).
   * Joins and leaves of one room are grouped: while a group is being written the next one gathers,
   * so a join storm costs one script per room per round trip, not one per member.
   */
  async track(eventId: string, userId: string, origin: string): Promise<{ field: string; phxRef: string; seq: number }> {
    const phxRef = randomBytes(9).toString("base64url");
    const field = `${this.nodeId}|${phxRef}`;
    const entry: PresenceEntry = { user_id: userId, phx_ref: phxRef, online_at: Date.now() };
    this.local.set(field, { eventId, entry });
    countPresence();
    try {
      const seq = await this.change(eventId, { add: { field, entry } }, origin);
      return { field, phxRef, seq };
    } catch (err) {
      // The join failed (perhaps after Redis applied it): forget the entry here and take it back
      // there, or the heartbeat would keep rewriting a ghost of a user who never got in.
      this.local.delete(field);
      countPresence();
      this.pendingLeaves.set(field, eventId);
      throw err;
    }
  }

  /** Removes a connection's entry (announcing the leave); nothing once closed (close announced them all). */
  untrack(field: string, origin = ""): void {
    const e = this.local.get(field);
    if (!e || this.closed) return;
    this.local.delete(field);
    countPresence();
    this.run(
      this.change(e.eventId, { remove: field }, origin).catch((err: unknown) => {
        // Our heartbeat keeps the entry from being reaped: retry the leave on every beat until it lands.
        this.pendingLeaves.set(field, e.eventId);
        throw err;
      }),
      "presence leave failed; retrying with the heartbeat",
      e.eventId,
    );
  }

  /** Each room's next group of changes, and whether a group of that room is being written. */
  private readonly groups = new Map<string, { add: { field: string; entry: PresenceEntry }[]; remove: string[]; origin: string; waiters: { resolve: (seq: number) => void; reject: (e: unknown) => void }[] }>();
  private readonly writing = new Set<string>();

  private change(eventId: string, c: { add?: { field: string; entry: PresenceEntry }; remove?: string }, origin: string): Promise<number> {
    let g = this.groups.get(eventId);
    if (!g) this.groups.set(eventId, (g = { add: [], remove: [], origin, waiters: [] }));
    // The origin tags a group of one only; a group of many is announced as nobody's.
    if (g.origin !== origin) g.origin = "";
    if (c.add) g.add.push(c.add);
    if (c.remove) g.remove.push(c.remove);
    const done = new Promise<number>((resolve, reject) => g.waiters.push({ resolve, reject }));
    if (!this.writing.has(eventId)) setImmediate(() => void this.writeGroups(eventId));
    return done;
  }

  private async writeGroups(eventId: string): Promise<void> {
    if (this.writing.has(eventId)) return;
    this.writing.add(eventId);
    try {
      for (;;) {
        const g = this.groups.get(eventId);
        if (!g) return;
        this.groups.delete(eventId);
        try {
          // Listed first, so a reaper can always find what a node that dies right now has written.
          if (g.add.length > 0) await this.redis.sadd(this.keys.chatNodeRooms(this.nodeId), eventId);
          const { seq } = await this.bus.presenceBatch({ eventId, add: g.add, remove: g.remove, origin: g.origin });
          for (const w of g.waiters) w.resolve(seq);
        } catch (err) {
          for (const w of g.waiters) w.reject(err);
        }
      }
    } finally {
      this.writing.delete(eventId);
    }
  }

  /** Leaves that failed (a Redis blip); each beat tries them again. */
  private readonly pendingLeaves = new Map<string, string>();
  private async retryLeaves(): Promise<void> {
    for (const [field, eventId] of [...this.pendingLeaves]) {
      if (this.local.has(field)) {
        this.pendingLeaves.delete(field);
        continue;
      }
      await this.bus.presenceLeave({ eventId, fields: [field], origin: "" });
      this.pendingLeaves.delete(field);
    }
  }

  /** Graceful stop: every remaining entry leaves (in one script per room), then the node deregisters. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    this.closed = true;
    trackers.delete(this);
    countPresence();
    await Promise.allSettled([...this.inflight]);
    const byRoom = new Map<string, string[]>();
    for (const [field, e] of this.local) byRoom.set(e.eventId, [...(byRoom.get(e.eventId) ?? []), field]);
    this.local.clear();
    try {
      for (const [eventId, fields] of byRoom) await this.bus.presenceLeave({ eventId, fields });
      // Two calls: the keys are in different Redis Cluster slots.
      await Promise.all([this.redis.del(this.keys.chatNodeHeartbeat(this.nodeId)), this.redis.del(this.keys.chatNodeRooms(this.nodeId))]);
      await this.redis.srem(this.keys.chatNodes, this.nodeId);
    } catch (err) {
      // The others reap what is left once the heartbeat lapses.
      this.log.warn({ err }, "presence cleanup at close failed");
    }
  }

  private async beat(): Promise<void> {
    if (this.closed) return;
    try {
      const hb = this.keys.chatNodeHeartbeat(this.nodeId);
      const previous = await this.redis.call("SET", hb, "1", "PX", String(this.ttlMs), "GET");
      const added = await this.redis.sadd(this.keys.chatNodes, this.nodeId);
      // A lapsed heartbeat means others may be reaping us; so does our membership gone from the node
      // set (a reaper removes it only after it finished), even when we re-wrote before it got to us.
      if ((previous === null || added === 1) && this.started) await this.rewrite();
      await this.retryLeaves();
      await this.reapDead();
    } catch (err) {
      this.log.warn({ err }, "presence heartbeat failed");
    }
  }

  /** Our heartbeat had lapsed (a long pause): others may have reaped us, so every entry is written again. */
  private async rewrite(): Promise<void> {
    this.log.warn({ entries: this.local.size }, "presence heartbeat had lapsed; re-tracking local entries");
    const byRoom = new Map<string, { field: string; entry: PresenceEntry }[]>();
    for (const [field, e] of this.local) byRoom.set(e.eventId, [...(byRoom.get(e.eventId) ?? []), { field, entry: e.entry }]);
    for (const [eventId, add] of byRoom) {
      await this.redis.sadd(this.keys.chatNodeRooms(this.nodeId), eventId);
      await this.bus.presenceBatch({ eventId, add, remove: [] });
    }
  }

  private async reapDead(): Promise<void> {
    const nodes = await this.redis.smembers(this.keys.chatNodes);
    for (const node of nodes) {
      if (node === this.nodeId) continue;
      if ((await this.redis.exists(this.keys.chatNodeHeartbeat(node))) === 1) continue;
      const removed = await this.reapNode(node);
      await this.redis.srem(this.keys.chatNodes, node);
      this.log.info({ deadNode: node, removed }, "reaped the presence of a dead node");
    }
  }

  /** Removes a node's entries from every room it listed; safe to run on several nodes at once. */
  private async reapNode(node: string): Promise<number> {
    const roomsKey = this.keys.chatNodeRooms(node);
    let removed = 0;
    for (const eventId of await this.redis.smembers(roomsKey)) {
      removed += await this.bus.presenceReapNode({ eventId, nodeId: node });
      await this.redis.srem(roomsKey, eventId);
    }
    return removed;
  }

  private run(p: Promise<unknown>, what: string, eventId: string): void {
    const tracked = p.catch((err: unknown) => this.log.warn({ err, eventId }, what));
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }
}
