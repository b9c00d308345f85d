/**
 * The one key builder, so every key's form, prefix and hash tag are decided in one place. Nothing
 * else in the project concatenates Redis key names.
 *
 * Every key of one event shares the hash tag `{e:<eventId>}`, so a script that touches an event's
 * seats, holds, sequence and log stays in one Redis Cluster slot. A script receives every key it
 * touches in KEYS, from the lists below (`EventKeys.script`, `ChatKeys.script`, `roomScriptKeys`):
 * no script builds a key name, so a cluster proxy or a managed Redis that routes by declared keys
 * sees them all. Per-seat, per-user and per-order state therefore lives in fields and members of the
 * event's fixed keys, never in keys of its own (ARCHITECTURE.md, "Every key in KEYS");
 * `test/lua-declared-keys.test.ts` watches every script run and fails on a key it did not declare.
 */
export interface EventKeys {
  /** Prefix of every key of the event, ending in `:` (for tests that wipe an event; never for Lua). */
  base: string;
  /** Hash: settings (ttl, max, grace, maxExt, logMax, cool, …), `epoch` (exists iff the event is loaded) and `ixd`. */
  meta: string;
  /** Set of the event's seat ids (the seat map). */
  seatmap: string;
  /** A seat map being staged by loadEvent in chunks (`token` per load), renamed onto `seatmap` at commit. */
  seatmapStaging(token: string): string;
  /** Hash seat → `L|<userId>` (locked), `R|<ref>|<userId>` (reserved), `P|<ref>|<userId>` (paid); absent = available. */
  state: string;
  /** Sorted set userId → hold deadline (ms): the index of live holds, for sweeps. */
  holds: string;
  /** Hash userId → the hold as JSON `{"dl", "ext", "c" (created ms), "s" (seat ids)}`. */
  holdInfo: string;
  /** Hash userId → seats in that user's pending and paid orders, for the per-user limit. */
  ordered: string;
  /** Counter: the event's sequence number, one per seat transition. */
  seq: string;
  /** Stream of seat events with ids `<seq>-1`, capped, for `last_seq` catch-up. */
  log: string;
  /** Sharded pub/sub channel of the event's seat events (declared in KEYS like a key: it routes by slot). */
  channel: string;
  /** Sorted set `<userId>|<seatId>` → until (ms): that user let that seat go and may not lock it again before. */
  cool: string;
  /** Sorted set userId → when their holding time on the event began (ms); it bounds every hold they make. */
  budgets: string;
  /** Sorted set `<userId>|<nodeId>` → until when that node vouches for a live connection of the user (ms). */
  live: string;
  /** Sorted set orderId → until (ms): the order is being written to PostgreSQL, so a rebuild keeps its seats. */
  pendingOrders: string;
  /** Sorted set orderId → until (ms): the order gave its seats back, so a stale rebuild does not restore them. */
  doneOrders: string;
  /** Hash seat → `<until ms>|<userId>`: a free seat offered to a waiting-room buyer until then. */
  offers: string;
  /** A ws-node's short lease on sweeping the event's expired holds, so one node sweeps it per interval. */
  sweepLease: string;
  /** KEYS of every seat script, in the order of `SEAT_SCRIPT_KEYS` (libs/seats/lua/includes/seatLib.lua reads them so). */
  script: string[];
}

/**
 * The keys every seat script declares, in KEYS order: the event's fixed keys, then the waiting
 * room's three that a released hold's seats are offered through (seatLib's roomOfferee).
 * `libs/redis/test/lua-key-names.test.ts` checks seatLib names them in this order.
 */
export const SEAT_SCRIPT_KEYS = [
  "meta",
  "seatmap",
  "state",
  "holds",
  "holdInfo",
  "ordered",
  "seq",
  "log",
  "channel",
  "cool",
  "budgets",
  "live",
  "pendingOrders",
  "doneOrders",
  "offers",
  "sweepLease",
  "roomMeta",
  "roomAdmitted",
  "roomQueue",
] as const;

/**
 * Keys of one event's chat room. They share the event's hash tag `{e:<eventId>}`, so the chat
 * scripts (libs/chat/lua) stay in the event's Redis Cluster slot; each receives its keys in KEYS.
 */
export interface ChatKeys {
  /** Prefix of every chat key of the event, ending in `:`. */
  base: string;
  /**
   * Hash: `n` the room's sequence number (one per sequenced chat event: message, presence diff,
   * status) and `ep` its epoch, new whenever Redis lost the room and the numbers restart.
   */
  seq: string;
  /** Capped stream of sequenced chat events with ids `<seq>-1`, for gap repair on the nodes. */
  log: string;
  /** Pub/sub channel of the room. */
  channel: string;
  /** Hash `<nodeId>|<phx_ref>` → presence meta JSON (with `user_id`): who is in the room, per connection. */
  presence: string;
  /** `SET NX PX` gate that throttles one user's typing notices of one kind (`1` typing, `0` stopped). */
  typing(userId: string, typing: boolean): string;
  /** Fixed-window counter of one user's messages in the room. */
  rate(userId: string): string;
  /** String: the room's slow mode, seconds between two messages of one member (absent = off). */
  slow: string;
  /** `SET NX PX` gate of one member's next message under slow mode. */
  slowGate(userId: string): string;
  /** KEYS of the sequenced chat scripts (chatEmit, presenceBatch, presenceLeave): seq, log, channel, presence (chatLib's order). */
  script: string[];
}

/**
 * Keys of one event's waiting room (libs/queue). They share the event's hash tag, so the room's
 * scripts also read the event's seat keys (free seats, holds) in the same slot; every one of them
 * is declared in KEYS (libs/queue/src/room-scripts.ts).
 */
export interface RoomKeys {
  base: string;
  /** Hash: settings (opensAt, salesOpenAt, closesAt, turnMs, maxActive, powBits), secrets (seed, challenge, commitment) and state (drawn, next, soldOut, paused, epoch, rate). */
  meta: string;
  /** Hash userId → arrival ms: the pre-queue, before the draw. */
  pre: string;
  /** Sorted set userId → arrival counter: who joined after `sales_open_at` while the draw ran. */
  late: string;
  /** Sorted set userId → place number: the queue after the draw (lowest first). */
  queue: string;
  /** Sorted set userId → turn end (ms): admitted buyers whose turn has not ended. */
  admitted: string;
  /** Sorted set userId → last time a node saw one of the user's sockets on the topic (ms). */
  seen: string;
  /** Staging keys of a draw in progress (renamed onto `queue` by the commit). */
  drawQueue: string;
  /** A ws-node's short lease on ticking the room, so one node admits per interval. */
  lease: string;
}

function roomKeysOf(prefix: string, eventId: string): RoomKeys {
  const base = `${prefix}:{e:${eventId}}:wr:`;
  return {
    base,
    meta: `${base}meta`,
    pre: `${base}pre`,
    late: `${base}late`,
    queue: `${base}q`,
    admitted: `${base}adm`,
    seen: `${base}seen`,
    drawQueue: `${base}draw-q`,
    lease: `${base}lease`,
  };
}

export function createKeys(prefix: string) {
  return {
    prefix,
    event(eventId: string): EventKeys {
      const base = `${prefix}:{e:${eventId}}:`;
      const k: Omit<EventKeys, "script"> = {
        base,
        meta: `${base}meta`,
        seatmap: `${base}seatmap`,
        seatmapStaging: (token) => `${base}seatmap:loading:${token}`,
        state: `${base}state`,
        holds: `${base}holds`,
        holdInfo: `${base}holdinfo`,
        ordered: `${base}ordered`,
        seq: `${base}seq`,
        log: `${base}log`,
        channel: `${base}ch`,
        cool: `${base}cool`,
        budgets: `${base}budgets`,
        live: `${base}live`,
        pendingOrders: `${base}pending`,
        doneOrders: `${base}done`,
        offers: `${base}offers`,
        sweepLease: `${base}sweep-lease`,
      };
      const room = roomKeysOf(prefix, eventId);
      const roomKeys = { roomMeta: room.meta, roomAdmitted: room.admitted, roomQueue: room.queue };
      const named: Record<(typeof SEAT_SCRIPT_KEYS)[number], string> = { ...(k as Omit<EventKeys, "script" | "base" | "seatmapStaging">), ...roomKeys };
      return { ...k, script: SEAT_SCRIPT_KEYS.map((n) => named[n]) };
    },
    chat(eventId: string): ChatKeys {
      const base = `${prefix}:{e:${eventId}}:chat:`;
      const seq = `${base}seq`;
      const log = `${base}log`;
      const channel = `${base}ch`;
      const presence = `${base}presence`;
      return {
        base,
        seq,
        log,
        channel,
        presence,
        script: [seq, log, channel, presence],
        typing: (userId, typing) => `${base}typing:${userId}:${typing ? 1 : 0}`,
        rate: (userId) => `${base}rate:${userId}`,
        slow: `${base}slow`,
        slowGate: (userId) => `${base}slow:${userId}`,
      };
    },
    room: (eventId: string): RoomKeys => roomKeysOf(prefix, eventId),
    /** SCAN pattern of every event's meta hash; it also matches other keys, so filter with `eventOfMeta`. */
    eventMetaPattern: `${prefix}:{e:*}:meta`,
    /** The event whose meta hash `key` is, or null for any other key. */
    eventOfMeta(key: string): string | null {
      const head = `${prefix}:{e:`;
      if (!key.startsWith(head) || !key.endsWith("}:meta")) return null;
      return key.slice(head.length, -"}:meta".length);
    },
    /** Claimed (NX, short PX) by the worker that handles one failover of a shard, so one worker restarts its events' epochs. */
    failoverClaim: (shardAndMaster: string) => `${prefix}:failover:${shardAndMaster}`,
    /** Pub/sub channel of one user's personal notifications (topic `user:<userId>`). */
    userChannel: (userId: string) => `${prefix}:{u:${userId}}:ch`,
    /** Set of ws-node ids that have ever tracked chat presence and not been reaped yet. */
    chatNodes: `${prefix}:chat:nodes`,
    /** A ws-node's heartbeat, with a short PX: when it is gone the node is dead and its presences are reaped. */
    chatNodeHeartbeat: (nodeId: string) => `${prefix}:chat:node:${nodeId}:hb`,
    /** Set of event ids in whose rooms a ws-node has presence entries, so a reaper knows where to look. */
    chatNodeRooms: (nodeId: string) => `${prefix}:chat:node:${nodeId}:rooms`,
    /**
     * Sorted set eventId → a deadline no later than the event's earliest hold: the cluster-wide
     * index the worker's hold sweep reads instead of walking PostgreSQL. It is one key in
     * its own Redis Cluster slot, written outside the seat scripts; see lua/sweepHolds-19.lua for
     * the rule that keeps it correct.
     */
    holdEvents: `${prefix}:holds:due`,
    /** Hash of the alerts Alertmanager says are firing (fingerprint → the alert as JSON), for the ops page. */
    opsAlerts: `${prefix}:ops:alerts`,
    /**
     * BullMQ's own prefix, so queues of one deployment (or test run) never meet another's. Its hash
     * tag puts every queue's keys in one Redis Cluster slot (BullMQ's scripts touch many keys of a
     * queue at once); job traffic is small beside the seats', so one shard carries it.
     */
    bullPrefix: `${prefix}:{bull}`,
    /** Revoked JWT ids (sign-out), until the token would have expired anyway. */
    deniedToken: (jti: string) => `${prefix}:auth:deny:${jti}`,
    /** Channel announcing a revoked jti, so every ws-node closes the sockets still open with it. */
    revokedTokens: `${prefix}:auth:revoked`,
    /**
     * Set once the deny-list cache was filled from PostgreSQL (`revoked_tokens`); its absence means
     * Redis lost the cache (a restart), so a miss must be checked in PostgreSQL.
     */
    deniedTokensLoaded: `${prefix}:auth:deny-loaded`,
    /** Cache of a user's `tokens_valid_after` (ms, `0` for none, `gone` for a deleted user). */
    userValidAfter: (userId: string) => `${prefix}:auth:va:${userId}`,
    /** Key prefix of one cluster-wide attempt limit (rate-limiter-flexible appends `:<subject>`). */
    attemptLimit: (limit: string) => `${prefix}:rl:${limit}`,
    /** Channel on which each ws-node tells the others the counts its connects brought the limits to (SyncedLimits). */
    attemptTotals: `${prefix}:rl-totals`,
  };
}

export type Keys = ReturnType<typeof createKeys>;
