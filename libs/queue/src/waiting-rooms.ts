import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import type { Config } from "@seatdrop/config";
import { events as eventsTable, waitingRoomDraws, type Db, type WaitingRoomRecord } from "@seatdrop/db";
import type { Logger } from "@seatdrop/observability";
import { drawOrder } from "./draw.ts";
import { PassSigner } from "./pass.ts";
import { ReplyReader, type Keys, type Redis } from "@seatdrop/redis";
import { PHASES, registerRoomScripts, type RoomCaller, type RoomPhase } from "./room-scripts.ts";

/** A room's settings as PostgreSQL has them (the seed stays inside this module). */
export interface RoomInfo {
  eventId: string;
  opensAt: number;
  salesOpenAt: number;
  /** The event's `sales_close_at` (ms), 0 for none: the room closes then. */
  closesAt: number;
  turnMs: number;
  maxActive: number | null;
  powBits: number;
  commitment: string;
  challenge: string;
  paused: boolean;
}

/** What the client is told about its state (the contract's names). */
export type QueueState = "not_open" | "pre_queue" | "waiting" | "admitted" | "sold_out" | "closed";

export type JoinOutcome =
  | { state: "not_open" | "pre_queue" | "closed"; epoch: string }
  | { state: "waiting" | "sold_out"; epoch: string; ahead: number; place: number }
  | { state: "admitted"; epoch: string; until: number };

export interface UserPosition {
  /**
   * People ahead (≥ 0) and the place's number; or admitted with the turn's end; or an entrant of
   * the pre-queue; or unknown to the room (given up, turn ended, or lost by Redis).
   */
  kind: "waiting" | "admitted" | "entrant" | "unknown";
  ahead: number;
  place: number;
  until: number;
}

export interface Positions {
  phase: RoomPhase;
  epoch: string;
  /** Admissions per minute, recent mean. */
  perMinute: number;
  free: number;
  seatsPerBuyer: number;
  users: Map<string, UserPosition>;
}

export type TickOutcome =
  | { kind: "busy" | "lost" | "idle" }
  | { kind: "drawn"; entrants: number }
  | { kind: "ticked"; phase: RoomPhase; waiting: number; admitted: number; free: number; emptyHolds: number; shopping: number; gaveUp: number };

/** `GET /api/events/:id/waiting_room`. */
export interface RoomStatus {
  state: "not_open" | "pre_queue" | "running" | "sold_out" | "closed";
  opens_at: string;
  sales_open_at: string;
  commitment: string;
  seed: string | null;
  waiting: number;
  admitted: number;
  sold_out: boolean;
  /** The last tick's figures; null before the room's first tick. */
  shopping: number | null;
  free_seats: number | null;
  admitted_per_minute: number | null;
  paused: boolean;
  max_active: number | null;
  turn_ms: number;
  pow_bits: number;
  challenge: string;
}

export interface WaitingRoomsDeps {
  redis: Redis;
  keys: Keys;
  config: Config;
  logger: Logger;
  db: Db;
  /** Loads the event's seat map into Redis when the tick finds it missing (SeatService.ensureEventLoaded). */
  ensureSeats?: (eventId: string) => Promise<unknown>;
}

/** How long a process trusts its copy of a room's settings (an edit reaches every node within this). */
const SETTINGS_TTL_MS = 5000;
/** How recently an admitted buyer with an empty hold must have been seen on the topic to count as shopping. */
const presentMs = (c: Config) => 3 * c.QUEUE_POSITION_MS + 500;
/** How long each step of a draw holds the room's lease: the whole draw of 100,000 takes about 2 s here. */
const DRAW_LEASE_MS = 30_000;
/** Entrants per staging call of a draw. */
const DRAW_CHUNK = 5000;

/**
 * Waiting rooms (one per event that has `events.waiting_room`): the pre-queue, the draw, the queue,
 * admission paced by inventory, and the passes admitted buyers lock with. Everything that changes
 * a room is one Lua script (../lua); the draw's ordering is computed here (Redis's Lua has no
 * SHA-256) and committed under a token.
 */
export class WaitingRooms {
  readonly passes: PassSigner;
  private readonly call: RoomCaller;
  private readonly log: Logger;
  private readonly cache = new Map<string, { at: number; room: Promise<RoomInfo | null>; known?: RoomInfo | null }>();
  private readonly loading = new Map<string, Promise<RoomInfo | null>>();

  constructor(private readonly deps: WaitingRoomsDeps) {
    this.call = registerRoomScripts(deps.redis, deps.keys);
    this.log = deps.logger.child({ module: "waiting-rooms" });
    this.passes = new PassSigner(deps.config.JWT_SECRET);
  }

  /** The event's room (cached for a few seconds), or null when it has none or does not exist. */
  settings(eventId: string): Promise<RoomInfo | null> {
    const hit = this.cache.get(eventId);
    if (hit && Date.now() - hit.at < SETTINGS_TTL_MS) return hit.room;
    const entry: { at: number; room: Promise<RoomInfo | null>; known?: RoomInfo | null } = { at: Date.now(), room: Promise.resolve(null) };
    entry.room = this.readRoom(eventId).then((r) => (entry.known = r?.info ?? null));
    entry.room.catch(() => this.cache.delete(eventId)); // a database hiccup is not remembered
    this.cache.set(eventId, entry);
    return entry.room;
  }

  /**
   * Whether the event has a room, from this process's copy alone (no await: a seat lock asks on
   * every push); undefined when the copy is missing or stale, and then a fresh read is started.
   */
  hasRoomNow(eventId: string): boolean | undefined {
    const hit = this.cache.get(eventId);
    if (hit && Date.now() - hit.at < SETTINGS_TTL_MS && hit.known !== undefined) return hit.known !== null;
    if (!hit || Date.now() - hit.at >= SETTINGS_TTL_MS) void this.settings(eventId).catch(() => {});
    return undefined;
  }

  /** Forgets this process's copy of the room's settings (after an edit here). */
  forget(eventId: string): void {
    this.cache.delete(eventId);
  }

  /** Makes sure Redis has the room (from PostgreSQL if not); null when the event has no room. */
  async ensureLoaded(eventId: string): Promise<RoomInfo | null> {
    let p = this.loading.get(eventId);
    if (!p) {
      p = this.load(eventId, "create").finally(() => this.loading.delete(eventId));
      this.loading.set(eventId, p);
    }
    return p;
  }

  /**
   * Writes the room's settings from PostgreSQL into the Redis room, if Redis has it (an edit, a
   * pause, a new cap); a room PostgreSQL no longer has is removed from Redis.
   */
  async update(eventId: string): Promise<void> {
    this.forget(eventId);
    if (!(await this.load(eventId, "update"))) await this.remove(eventId);
  }

  /** Deletes every Redis key of the event's room (its room was removed). */
  async remove(eventId: string): Promise<void> {
    const k = this.deps.keys.room(eventId);
    await this.deps.redis.del(k.meta, k.pre, k.late, k.queue, k.admitted, k.seen, k.drawQueue, k.lease);
  }

  private async load(eventId: string, mode: "create" | "update"): Promise<RoomInfo | null> {
    const row = await this.readRoom(eventId);
    if (!row) return null;
    const { info, record } = row;
    const [drawn] = await this.deps.db.select({ seed: waitingRoomDraws.seed }).from(waitingRoomDraws).where(eq(waitingRoomDraws.eventId, eventId));
    const fields: Record<string, string | number> = {
      opensAt: info.opensAt,
      salesOpenAt: info.salesOpenAt,
      closesAt: info.closesAt,
      turnMs: info.turnMs,
      maxActive: info.maxActive ?? 0,
      powBits: info.powBits,
      paused: info.paused ? 1 : 0,
      // Read by the seat scripts when a hold expires or is abandoned (seatLib's roomOfferee).
      offerMs: this.deps.config.QUEUE_OFFER_MS,
      seed: record.seed,
      commitment: record.commitment,
      challenge: record.challenge,
    };
    const wasDrawn = drawn?.seed === record.seed ? 1 : 0;
    const r = await this.call("queueLoad", eventId, [mode, randomUUID().slice(0, 8), wasDrawn, presentMs(this.deps.config), ...Object.entries(fields).flat()]);
    const outcome = new ReplyReader("queueLoad", r).str(0, "outcome");
    if (outcome === "created") this.log.info({ eventId, drawn: wasDrawn === 1 }, "waiting room loaded into redis");
    return info;
  }

  private async readRoom(eventId: string): Promise<{ info: RoomInfo; record: WaitingRoomRecord } | null> {
    const [row] = await this.deps.db
      .select({ room: eventsTable.waitingRoom, salesOpenAt: eventsTable.salesOpenAt, salesCloseAt: eventsTable.salesCloseAt })
      .from(eventsTable)
      .where(eq(eventsTable.id, eventId));
    if (!row?.room || !row.salesOpenAt) return null;
    const record = row.room;
    return {
      record,
      info: {
        eventId,
        opensAt: Date.parse(record.opens_at),
        salesOpenAt: row.salesOpenAt.getTime(),
        closesAt: row.salesCloseAt?.getTime() ?? 0,
        turnMs: record.turn_ms,
        maxActive: record.max_active ?? null,
        powBits: record.pow_bits ?? 0,
        commitment: record.commitment,
        challenge: record.challenge,
        paused: record.paused === true,
      },
    };
  }

  /** Runs a room script, loading the room once if Redis lost it. */
  private async run(name: Parameters<RoomCaller>[0], eventId: string, args: (string | number)[]): Promise<unknown[] | null> {
    let r = await this.call(name, eventId, args);
    if (r[0] === "lost") {
      if (!(await this.ensureLoaded(eventId))) return null;
      r = await this.call(name, eventId, args);
      if (r[0] === "lost") return null;
    }
    return r;
  }

  /** The user joins or comes back to the room (one place per user); null when the event has no room. */
  async join(eventId: string, userId: string): Promise<JoinOutcome | null> {
    const r = await this.run("queueJoin", eventId, [userId]);
    if (!r) return null;
    const rd = new ReplyReader("queueJoin", r);
    const phase = rd.str(0, "phase");
    const epoch = rd.str(1, "epoch");
    if (phase === "admitted") return { state: "admitted", epoch, until: rd.int(4, "until") };
    if (phase === "running" || phase === "sold_out")
      return { state: phase === "running" ? "waiting" : "sold_out", epoch, ahead: rd.int(2, "rank"), place: rd.int(3, "place") };
    if (phase === "draw_due") return { state: "pre_queue", epoch };
    return { state: rd.oneOf(0, "phase", PHASES) as "not_open" | "pre_queue" | "closed", epoch };
  }

  /** Where each user stands (and a vouch that they are still here); null when Redis lost the room. */
  async positions(eventId: string, users: readonly string[]): Promise<Positions | null> {
    const r = await this.call("queuePositions", eventId, [...users]);
    if (r[0] === "lost") return null;
    const rd = new ReplyReader("queuePositions", r);
    const out: Positions = {
      phase: rd.oneOf(0, "phase", PHASES),
      epoch: rd.str(1, "epoch"),
      perMinute: rd.int(2, "rate"),
      free: rd.int(3, "free"),
      seatsPerBuyer: rd.int(4, "avg") / 1000,
      users: new Map(),
    };
    users.forEach((u, i) => {
      const code = rd.int(5 + 2 * i, "rank");
      const x = rd.int(6 + 2 * i, "place or until");
      const kind = code >= 0 ? "waiting" : code === -2 ? "admitted" : code === -1 ? "entrant" : "unknown";
      out.users.set(u, { kind, ahead: Math.max(0, code), place: code >= 0 ? x : 0, until: code === -2 ? x : 0 });
    });
    return out;
  }

  /** Puts back entries Redis lost (see lua/queueRestore-13.lua); returns how many were restored. */
  async restore(eventId: string, kind: "queue" | "admitted" | "pre", entries: ReadonlyArray<readonly [string, number]>): Promise<number> {
    if (entries.length === 0) return 0;
    const r = await this.run("queueRestore", eventId, [kind, ...entries.flat()]);
    return r ? new ReplyReader("queueRestore", r).int(1, "restored") : 0;
  }

  /** One step of the room under the node's lease: gives up stale places, draws when due, admits. */
  async tick(eventId: string, nodeId: string): Promise<TickOutcome> {
    const c = this.deps.config;
    // The lease outlives one interval: the node that holds it renews it each tick; another takes over when it stops.
    const args = [nodeId, 2 * c.QUEUE_TICK_MS, c.QUEUE_ABANDON_MS, c.QUEUE_ADMIT_BATCH, c.QUEUE_SEATS_PER_BUYER, presentMs(c), c.QUEUE_WALK_MS];
    let r = await this.run("queueTick", eventId, args);
    if (!r) return { kind: "idle" };
    if (r[0] === "no_seats") {
      await this.deps.ensureSeats?.(eventId);
      r = await this.call("queueTick", eventId, args);
    }
    if (r[0] === "busy" || r[0] === "no_seats" || r[0] === "lost") return { kind: r[0] === "busy" ? "busy" : "lost" };
    if (r[0] === "draw_due") {
      const entrants = await this.draw(eventId, nodeId);
      return entrants === null ? { kind: "busy" } : { kind: "drawn", entrants };
    }
    const rd = new ReplyReader("queueTick", r);
    return {
      kind: "ticked",
      phase: rd.oneOf(0, "phase", PHASES),
      waiting: rd.int(1, "waiting"),
      admitted: rd.int(2, "admitted"),
      free: rd.int(3, "free"),
      emptyHolds: rd.int(4, "empty"),
      shopping: rd.int(5, "shopping"),
      gaveUp: rd.int(7, "gaveUp"),
    };
  }

  /**
   * The draw: orders the pre-queue by HMAC-SHA256(seed, user id), publishes the keys in PostgreSQL
   * (`waiting_room_draws`), then stages and commits the queue under a token, holding the room's
   * lease as `node` throughout. Returns the entrants, or null when it did not draw (already drawn,
   * another node's lease or draw).
   */
  async draw(eventId: string, node = `draw-${process.pid}`): Promise<number | null> {
    const token = randomUUID();
    const step = (name: "begin" | "stage" | "commit", rest: (string | number)[] = []) => this.call("queueDraw", eventId, [name, token, node, DRAW_LEASE_MS, ...rest]);
    const begun = new ReplyReader("queueDraw", await step("begin"));
    if (begun.reply[0] !== "ok") return null;
    const seed = begun.str(1, "seed");
    const started = performance.now();
    const entrants: string[] = [];
    const pre = this.deps.keys.room(eventId).pre;
    let cursor = "0";
    do {
      const [next, flat] = await this.deps.redis.hscan(pre, cursor, "COUNT", 5000);
      for (let i = 0; i < flat.length; i += 2) entrants.push(flat[i]!);
      cursor = next;
    } while (cursor !== "0");
    const unique = [...new Set(entrants)];
    const { users, keys } = drawOrder(seed, unique);
    await this.deps.db
      .insert(waitingRoomDraws)
      .values({ eventId, seed, keys })
      .onConflictDoUpdate({ target: waitingRoomDraws.eventId, set: { seed, keys, drawnAt: new Date() } });
    for (let i = 0; i < users.length; i += DRAW_CHUNK) {
      const pairs: (string | number)[] = [];
      for (let j = i; j < Math.min(users.length, i + DRAW_CHUNK); j++) pairs.push(j + 1, users[j]!);
      const staged = await step("stage", pairs);
      if (staged[0] !== "ok") return null;
    }
    const committed = await step("commit", [users.length]);
    if (committed[0] !== "ok") return null;
    this.log.info({ eventId, entrants: users.length, ms: Math.round(performance.now() - started) }, "waiting room drawn");
    return users.length;
  }

  /** The room's public state; null when the event has no room. */
  async status(eventId: string): Promise<RoomStatus | null> {
    // The cached settings, and PostgreSQL only when Redis does not have the room.
    const info = await this.settings(eventId);
    if (!info) return null;
    const k = this.deps.keys.room(eventId);
    const read = async () =>
      (await this.deps.redis.multi().hgetall(k.meta).time().hlen(k.pre).zcard(k.late).zcard(k.queue).exec()) as [
        [unknown, Record<string, string>],
        [unknown, [string, string]],
        [unknown, number],
        [unknown, number],
        [unknown, number],
      ];
    let r = await read();
    if (!r[0][1].epoch) {
      if (!(await this.ensureLoaded(eventId))) return null;
      r = await read();
    }
    const [[, meta], [, time], [, pre], [, late], [, queue]] = r;
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    const drawn = meta.drawn === "1";
    const soldOut = meta.soldOut === "1";
    // The tick writes `rateAt` with its figures: without it, no tick has counted anything yet.
    const ticked = meta.rateAt !== undefined;
    let state: RoomStatus["state"];
    if (info.closesAt > 0 && now >= info.closesAt) state = "closed";
    else if (now < info.opensAt) state = "not_open";
    else if (!drawn) state = "pre_queue";
    else state = soldOut ? "sold_out" : "running";
    return {
      state,
      opens_at: new Date(info.opensAt).toISOString(),
      sales_open_at: new Date(info.salesOpenAt).toISOString(),
      commitment: info.commitment,
      seed: drawn ? (meta.seed ?? null) : null,
      waiting: drawn ? queue : pre + late,
      admitted: Number(meta.admittedTotal ?? 0),
      sold_out: soldOut,
      shopping: ticked ? Number(meta.shopping ?? 0) : null,
      free_seats: ticked ? Number(meta.free ?? 0) : null,
      admitted_per_minute: ticked ? Math.round(Number(meta.rate ?? 0) * 60) : null,
      paused: meta.paused === "1",
      max_active: info.maxActive,
      turn_ms: info.turnMs,
      pow_bits: info.powBits,
      challenge: info.challenge,
    };
  }

  /** The published draw (seed and keys in queue order), or null before the draw. */
  async drawResult(eventId: string): Promise<{ seed: string; keys: string[]; drawn_at: string } | null> {
    const [row] = await this.deps.db.select().from(waitingRoomDraws).where(eq(waitingRoomDraws.eventId, eventId));
    return row ? { seed: row.seed, keys: row.keys, drawn_at: row.drawnAt.toISOString() } : null;
  }
}
