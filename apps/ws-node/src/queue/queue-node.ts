import type { Config } from "@seatdrop/config";
import { metrics, type Logger } from "@seatdrop/observability";
import { encodePhx } from "@seatdrop/protocol";
import type { Positions, RoomInfo, UserPosition, WaitingRooms } from "@seatdrop/queue";
import { sendTo, type Conn } from "../conn.ts";
import type { Join } from "../channels/channel.ts";

/** How long a room's tick or position read may run before the next one goes ahead anyway. */
const STUCK_MS = 5000;

/** What the node last told one user of their place (the same for every tab and device of theirs here). */
export interface Told {
  position: number;
  ahead: number;
  eta_s: number | null;
  likely_sold_out: boolean;
}

/** One user waiting in a room through this node, with every socket of theirs joined to the topic. */
interface Waiter {
  userId: string;
  sockets: Map<Conn, Join>;
  /** The queue's number for the user's place (restores the order if Redis loses the room), 0 before the draw. */
  place: number;
  /** End of the user's turn once admitted (ms), else 0. */
  until: number;
  told: Told | null;
  /** When the last `position` push went out (ms). */
  toldAt: number;
  /** The last room-wide news the user was given. */
  news: "admitted" | "sold_out" | "turn_ended" | null;
}

interface LocalRoom {
  eventId: string;
  info: RoomInfo;
  waiters: Map<string, Waiter>;
  /** The Redis room's epoch as last read: a new one means Redis lost the room and it was loaded again. */
  epoch: string;
  /** The latest positions read (phase, rate, free seats), for join replies' estimates. */
  last: Positions | null;
}

/**
 * The waiting rooms as one ws-node serves them: the users waiting through this node, a timer that
 * reads their places once per QUEUE_POSITION_MS (one script call per room, which also vouches that
 * they are still here) and pushes `position`, `admitted` and `sold_out` as they change, and a timer
 * that ticks each room it serves every QUEUE_TICK_MS under the room's lease (one node admits per
 * interval; the lease moves to another node if this one dies). When Redis lost a room, the node puts
 * back the places, admissions and pre-queue entries of its own waiters (WaitingRooms.restore).
 */
export class QueueNode {
  private readonly rooms = new Map<string, LocalRoom>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly log: Logger;
  /** When each room's tick and position read in flight started. */
  private readonly running = new Map<string, number>();

  constructor(private readonly o: { rooms: WaitingRooms; config: Config; nodeId: string; logger: Logger }) {
    this.log = o.logger.child({ module: "queue-node" });
  }

  start(): void {
    const positions = setInterval(() => this.readPositions(), this.o.config.QUEUE_POSITION_MS);
    const tick = setInterval(() => this.tickRooms(), this.o.config.QUEUE_TICK_MS);
    positions.unref();
    tick.unref();
    this.timers.push(positions, tick);
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
  }

  /** The socket joined the room; returns what the node last told the user (a second tab gets the same). */
  add(conn: Conn, join: Join, info: RoomInfo, at: { epoch: string; place?: number; until?: number }): Told | null {
    let room = this.rooms.get(info.eventId);
    if (!room) this.rooms.set(info.eventId, (room = { eventId: info.eventId, info, waiters: new Map(), epoch: at.epoch, last: null }));
    room.info = info;
    const userId = conn.userId!;
    let w = room.waiters.get(userId);
    if (!w) room.waiters.set(userId, (w = { userId, sockets: new Map(), place: 0, until: 0, told: null, toldAt: 0, news: null }));
    if (at.place) w.place = at.place;
    if (at.until) {
      w.until = at.until;
      w.news = "admitted";
    }
    if (!w.sockets.has(conn)) metrics.roomWaiters.inc();
    w.sockets.set(conn, join);
    return w.told;
  }

  remove(conn: Conn, join: Join): void {
    const room = this.rooms.get(join.subtopic);
    const w = conn.userId ? room?.waiters.get(conn.userId) : undefined;
    if (!room || !w || w.sockets.get(conn) !== join) return;
    w.sockets.delete(conn);
    metrics.roomWaiters.dec();
    if (w.sockets.size === 0) room.waiters.delete(w.userId);
    if (room.waiters.size === 0) this.rooms.delete(room.eventId);
  }

  /** Admissions per minute and free seats as last read for the room (join replies' estimates). */
  latest(eventId: string): Positions | null {
    return this.rooms.get(eventId)?.last ?? null;
  }

  /** Remembers what the user was told in a join reply, so pushes carry on from it. */
  noteTold(eventId: string, userId: string, told: Told): void {
    const w = this.rooms.get(eventId)?.waiters.get(userId);
    if (w && (!w.told || told.position <= w.told.position)) w.told = told;
  }

  private tickRooms(): void {
    for (const eventId of this.rooms.keys())
      this.once("tick", eventId, async () => {
        const r = await this.o.rooms.tick(eventId, this.o.nodeId);
        if (r.kind === "ticked" && r.admitted > 0) metrics.roomAdmitted.inc(r.admitted);
        if (r.kind === "drawn") this.log.info({ eventId, entrants: r.entrants }, "waiting room drawn by this node");
      });
  }

  private readPositions(): void {
    for (const room of this.rooms.values()) this.once("positions", room.eventId, () => this.readRoom(room));
  }

  /**
   * Runs one room's tick or position read unless the previous one is still running. A call that
   * has not settled after STUCK_MS (a command lost in a Redis restart can hang) no longer blocks the
   * next: the rooms are independent, and one stuck room never stops the others.
   */
  private once(step: "tick" | "positions", eventId: string, work: () => Promise<void>): void {
    const key = `${step}|${eventId}`;
    const started = this.running.get(key);
    if (started !== undefined && Date.now() - started < STUCK_MS) return;
    const at = Date.now();
    this.running.set(key, at);
    work()
      .catch((err: unknown) => {
        metrics.roomFailures.inc({ step });
        this.log.warn({ err, eventId }, `waiting room ${step} failed`);
      })
      .finally(() => {
        if (this.running.get(key) === at) this.running.delete(key);
      });
  }

  private async readRoom(room: LocalRoom): Promise<void> {
    const users = [...room.waiters.keys()];
    if (users.length === 0) return;
    let p = await this.o.rooms.positions(room.eventId, users);
    // Redis lost the room (and maybe another node loaded it again), or users this node holds and
    // never saw admitted are unknown to it: put back what this node knows.
    const lost = (q: Positions | null): q is null => !q || q.epoch !== room.epoch || [...q.users].some(([u, at]) => at.kind === "unknown" && room.waiters.get(u)?.until === 0);
    if (lost(p)) {
      await this.restore(room);
      p = await this.o.rooms.positions(room.eventId, users);
      if (!p) return;
    }
    room.epoch = p.epoch;
    room.last = p;
    for (const [userId, at] of p.users) {
      const w = room.waiters.get(userId);
      if (w) this.tell(room, w, p, at);
    }
  }

  /** Pushes what changed for one user: admitted, sold out, or a lower place. */
  private tell(room: LocalRoom, w: Waiter, p: Positions, at: UserPosition): void {
    if (at.kind === "admitted") {
      if (w.news === "admitted" && w.until === at.until) return;
      w.until = at.until;
      w.news = "admitted";
      this.push(w, "admitted", { pass: this.o.rooms.passes.sign(room.eventId, w.userId, at.until), expires_at: at.until, server_time: Date.now() });
      return;
    }
    // The turn is over (its pass no longer locks): said once, so a client need not trust its own clock.
    if (w.news === "admitted" && w.until <= Date.now()) {
      w.news = "turn_ended";
      this.push(w, "turn_ended", { expired_at: w.until });
      return;
    }
    if (at.kind !== "waiting") return;
    w.place = at.place;
    if (p.phase === "sold_out") {
      if (w.news !== "sold_out") {
        w.news = "sold_out";
        this.push(w, "sold_out", {});
      }
      return;
    }
    if (w.news === "sold_out") w.news = null; // seats came back: the room runs again
    const told = estimate(at.ahead, p);
    const last = w.told;
    // A place never goes up: after a restore the order may differ slightly, and the lower number stands.
    if (last && told.position > last.position) told.position = last.position;
    if (last && !worthTelling(last, told, Date.now() - w.toldAt)) return;
    w.told = told;
    w.toldAt = Date.now();
    this.push(w, "position", { ...told });
  }

  private push(w: Waiter, event: "position" | "admitted" | "sold_out" | "turn_ended", payload: Record<string, unknown>): void {
    metrics.roomPushes.inc({ event });
    for (const [conn, join] of w.sockets) if (join.live) sendTo(conn, encodePhx(join.joinRef, null, join.topic, event, payload));
  }

  private async restore(room: LocalRoom): Promise<void> {
    try {
      const info = await this.o.rooms.ensureLoaded(room.eventId);
      if (!info) return;
      const ws = [...room.waiters.values()];
      const now = Date.now();
      const restored =
        (await this.o.rooms.restore(room.eventId, "admitted", ws.filter((w) => w.until > now).map((w) => [w.userId, w.until] as const))) +
        (await this.o.rooms.restore(room.eventId, "queue", ws.filter((w) => w.until <= now && w.place > 0).map((w) => [w.userId, w.place] as const))) +
        (await this.o.rooms.restore(room.eventId, "pre", ws.filter((w) => w.until <= now && w.place === 0).map((w) => [w.userId, now] as const)));
      this.log.warn({ eventId: room.eventId, restored, waiters: ws.length }, "waiting room lost by redis: this node's waiters put back");
    } catch (err) {
      metrics.roomFailures.inc({ step: "restore" });
      throw err;
    }
  }
}

/** How long a waiter far back may go without hearing of a small change. */
const QUIET_MS = 10_000;

/**
 * Whether a change is worth a push. Near the front every change is; further back a place moves
 * every second while the room admits, and a push per waiter per second would cost the node a send
 * per waiter per second for news nobody needs at that grain: there, a push when the place fell by
 * at least 1 %, or the estimate moved and QUIET_MS passed, or the sold-out outlook turned.
 */
export function worthTelling(last: Told, now: Told, sinceMs: number): boolean {
  if (now.likely_sold_out !== last.likely_sold_out) return true;
  if (now.position === last.position && now.eta_s === last.eta_s) return false;
  if (now.position <= 100 || last.position - now.position >= last.position / 100) return true;
  return sinceMs >= QUIET_MS;
}

/** A waiter's place with an honest estimate: the recent admission rate, none while nobody is admitted. */
export function estimate(ahead: number, p: Pick<Positions, "perMinute" | "free" | "seatsPerBuyer">): Told {
  return {
    position: ahead + 1,
    ahead,
    eta_s: p.perMinute > 0 ? Math.ceil((ahead * 60) / p.perMinute) : null,
    // Everyone ahead taking the seats a buyer takes on average would leave nothing free for this place.
    likely_sold_out: ahead > 0 && ahead * Math.max(1, p.seatsPerBuyer) >= p.free,
  };
}
