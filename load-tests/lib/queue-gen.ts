/**
 * The waiting-room clients of the bench's `queue` scenario (load-tests/queue-bench.ts), held by the
 * generator child processes (lib/generator.ts registers these commands). Raw `ws` Phoenix V2
 * clients that parse every frame they get (a waiter gets at most one push a second; a buyer keeps
 * the map's `changes` to pick seats it sees free):
 * - `waiter`: joins `queue:<event>`, checks that its place never goes up, notes `admitted` and
 *   `sold_out`; when admitted it leaves the topic (it was there to be told its place, not to buy);
 * - `buyer`, a human: once admitted (without a room: once sales open) joins `seats:<event>` with the
 *   pass, locks 1–4 seats it sees free with a think time before each, orders them through the API
 *   (with an Idempotency-Key) and pays with the payment provider's signed webhook, then leaves;
 * - `bot`: the same, but locks random free seats as fast as the socket's token bucket
 *   (WS_PUSH_RATE, WS_PUSH_BURST) lets it, orders whenever its hold is full, until nothing is free.
 * Every wait is bounded by the orchestrator's deadline; everything talks to 127.0.0.1 only.
 */
import { createHmac, randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { SeatMapFollower } from "@seatdrop/protocol";
import { Histogram } from "./histogram.ts";
import { keepAlive, openAndJoin } from "./open-join.ts";

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The longest a push or join waits for its reply before it counts as lost. */
const REPLY_TIMEOUT_MS = 15_000;

export interface QueueSpec {
  port: number;
  token: string;
  eventId: string;
  role: "waiter" | "buyer" | "bot";
  /** The event has a waiting room: the client joins its queue first (without one, the seat map at once). */
  room: boolean;
}

/** What the shopping clients are told to do (qShop). */
export interface ShopArgs {
  /** Without a room: when sales open (every buyer starts then). */
  startAt: number;
  deadline: number;
  api: string;
  seats: string[];
  thinkMinMs: number;
  thinkMaxMs: number;
  /** A buyer who sees no free seat for this long leaves (orders what it holds). */
  giveUpMs: number;
  /** Lock attempts a human makes at most. */
  maxAttempts: number;
  /**
   * How a human picks: 0, any free seat it sees, at random; N > 0, one of the N best free seats it
   * sees (seats are listed best first), at random: a drop's crowd wants the best seats left.
   */
  pickBest: number;
  /** The bot's token bucket: the server's WS_PUSH_RATE and WS_PUSH_BURST. */
  rate: number;
  burst: number;
  /** Seats in a full hold (HOLD_MAX_SEATS): the bot orders then. */
  holdMax: number;
  /** PAYMENT_WEBHOOK_SECRET: the payment provider's signed webhook pays each order. */
  webhookSecret: string;
}

type Reply = { status: string; response: Record<string, unknown> };

class RoomClient {
  ws?: WebSocket;
  private ref = 0;
  private readonly pending = new Map<string, (r: Reply) => void>();
  readonly queueTopic: string;
  readonly seatsTopic: string;
  private queueRef: string | null = null;
  private seatsRef: string | null = null;
  closed = false;
  errors = 0;
  joinState = "";
  /** The place as last told (join reply or push); -1 before any. */
  position = -1;
  firstPositionAt = 0;
  positionPushes = 0;
  /** Pushes or replies that told a higher place than the one before. */
  ups = 0;
  upExample = "";
  admittedPushes = 0;
  admittedAt = 0;
  pass = "";
  soldOutAt = 0;
  /**
   * The seat map as this client sees it, kept by the shared follower (libs/protocol map-follower.js);
   * a generator client never rejoins, so a frame after a gap is applied all the same. Its own locks
   * and refusals mark seats taken at once, before the next frame says so.
   */
  readonly follower = new SeatMapFollower({ changes: true, applyGaps: true });
  get taken(): Map<string, string> {
    return this.follower.seats;
  }
  private wake?: () => void;
  // Shopping.
  shopped = false;
  shopStartAt = 0;
  joinFailed = "";
  passRefused = false;
  locksOk = 0;
  refused = 0;
  rateLimited = 0;
  reasons: Record<string, number> = {};
  rtt = new Histogram();
  firstLockAt = 0;
  seatsBought = 0;
  lastPaidAt = 0;
  orders = 0;
  orderFails: Record<string, number> = {};
  done = false;

  constructor(readonly spec: QueueSpec) {
    this.queueTopic = `queue:${spec.eventId}`;
    this.seatsTopic = `seats:${spec.eventId}`;
  }

  async open(): Promise<void> {
    const ws = new WebSocket(`ws://127.0.0.1:${this.spec.port}/socket/websocket?vsn=2.0.0&token=${this.spec.token}`, { perMessageDeflate: false });
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    ws.on("error", () => this.errors++);
    ws.on("close", () => {
      this.closed = true;
      for (const p of this.pending.values()) p({ status: "error", response: { reason: "closed" } });
      this.pending.clear();
      this.wake?.();
    });
    ws.on("message", (data: Buffer) => this.onFrame(data));
  }

  private onFrame(data: Buffer): void {
    let frame: [string | null, string | null, string, string, Record<string, unknown>];
    try {
      frame = JSON.parse(data.toString()) as typeof frame;
    } catch {
      this.errors++;
      return;
    }
    const [joinRef, ref, topic, event, payload] = frame;
    if (event === "phx_reply") {
      if (ref !== null) {
        this.pending.get(ref)?.(payload as unknown as Reply);
        this.pending.delete(ref);
      }
      return;
    }
    if (event === "phx_error") {
      if (joinRef === this.queueRef || joinRef === this.seatsRef) this.errors++;
      return;
    }
    if (topic === this.seatsTopic) {
      this.follower.apply(event, payload);
      return;
    }
    if (topic !== this.queueTopic) return;
    const t = now();
    if (event === "position") {
      this.positionPushes++;
      this.notePosition(payload.position, t);
    } else if (event === "admitted") {
      this.admittedPushes++;
      if (!this.admittedAt) this.admittedAt = t;
      this.pass = String(payload.pass);
      // A waiter came to be told its place; once admitted it goes (and is no longer counted as about to buy).
      if (this.spec.role === "waiter") void this.leave("queue");
      this.wake?.();
    } else if (event === "sold_out") {
      if (!this.soldOutAt) this.soldOutAt = t;
      this.wake?.();
    }
  }

  private notePosition(p: unknown, t: number): void {
    if (typeof p !== "number") return;
    if (this.position >= 0 && p > this.position) {
      this.ups++;
      this.upExample ||= `${this.position} then ${p}`;
    }
    if (this.position < 0) this.firstPositionAt = t;
    this.position = p;
  }

  private send(topic: string, joinRef: string | null, event: string, payload: Record<string, unknown>, ref = String(++this.ref)): Promise<Reply> {
    return new Promise<Reply>((resolve) => {
      if (this.closed || !this.ws) return resolve({ status: "error", response: { reason: "closed" } });
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        resolve({ status: "timeout", response: { reason: "timeout" } });
      }, REPLY_TIMEOUT_MS);
      this.pending.set(ref, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.ws.send(JSON.stringify([joinRef, ref, topic, event, payload]));
    });
  }

  private async joinTopic(which: "queue" | "seats", payload: Record<string, unknown>): Promise<Reply> {
    const ref = String(++this.ref);
    if (which === "queue") this.queueRef = ref;
    else this.seatsRef = ref;
    return this.send(which === "queue" ? this.queueTopic : this.seatsTopic, ref, "phx_join", payload, ref);
  }

  async leave(which: "queue" | "seats"): Promise<void> {
    const joinRef = which === "queue" ? this.queueRef : this.seatsRef;
    if (joinRef === null) return;
    if (which === "queue") this.queueRef = null;
    else this.seatsRef = null;
    await this.send(which === "queue" ? this.queueTopic : this.seatsTopic, joinRef, "phx_leave", {});
  }

  /** The first join: the room's queue, or (without a room) the seat map. */
  async join(): Promise<boolean> {
    if (this.spec.room) {
      const r = await this.joinTopic("queue", {});
      if (r.status !== "ok") return false;
      this.joinState = String(r.response.state);
      this.notePosition(r.response.position, now());
      if (r.response.state === "admitted") {
        this.admittedAt = now();
        this.pass = String(r.response.pass);
      }
      return true;
    }
    return this.joinSeats();
  }

  private async joinSeats(): Promise<boolean> {
    const r = await this.joinTopic("seats", this.spec.room ? { changes: true, pass: this.pass } : { changes: true });
    if (r.status !== "ok") {
      this.joinFailed = String(r.response.reason);
      return false;
    }
    this.follower.join(r.response as { mode: string; seq: number });
    const room = r.response.waiting_room as { admitted?: boolean } | undefined;
    if (this.spec.room && !room?.admitted) this.passRefused = true;
    return true;
  }

  /** Waits until admitted or told sold out (or the deadline); without a room, until sales open. */
  private async turn(a: ShopArgs): Promise<boolean> {
    if (!this.spec.room) {
      await sleep(Math.max(0, a.startAt - now()));
      return true;
    }
    while (!this.admittedAt && !this.soldOutAt && !this.closed && now() < a.deadline) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, Math.min(1000, Math.max(1, a.deadline - now())));
      });
      this.wake = undefined;
    }
    return this.admittedAt > 0;
  }

  /** One of the `best` first free seats in `seats` (best first) as this client sees the map; 0: any free seat. */
  private pickFree(seats: string[], best = 0): string | undefined {
    if (best > 0) {
      const some: string[] = [];
      for (const s of seats) if (!this.taken.has(s) && some.push(s) >= best) break;
      return some[Math.floor(Math.random() * some.length)];
    }
    for (let i = 0; i < 64; i++) {
      const s = seats[Math.floor(Math.random() * seats.length)]!;
      if (!this.taken.has(s)) return s;
    }
    const free = seats.filter((s) => !this.taken.has(s));
    return free[Math.floor(Math.random() * free.length)];
  }

  private async lock(seat: string): Promise<Reply> {
    const s = now();
    const r = await this.send(this.seatsTopic, this.seatsRef, "lock", { seat });
    this.rtt.add(now() - s);
    if (r.status === "ok") {
      this.locksOk++;
      this.firstLockAt ||= now();
      this.taken.set(seat, "locked");
    } else {
      const reason = String(r.response.reason);
      this.refused++;
      this.reasons[reason] = (this.reasons[reason] ?? 0) + 1;
      if (reason === "rate_limited") this.rateLimited++;
      if (reason === "already_locked" || reason === "seat_unavailable" || reason === "seat_offered") this.taken.set(seat, "locked");
    }
    return r;
  }

  /**
   * Orders the whole hold (POST /api/orders with an Idempotency-Key) and pays it as the payment
   * provider would: its signed webhook (POST /api/payments/webhook), as load-tests/soak.ts does.
   */
  private async orderAndPay(a: ShopArgs): Promise<void> {
    const fail = (why: string) => (this.orderFails[why] = (this.orderFails[why] ?? 0) + 1);
    try {
      const res = await fetch(`${a.api}/api/orders`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${this.spec.token}`, "idempotency-key": randomUUID() },
        body: JSON.stringify({ event_id: this.spec.eventId }),
        signal: AbortSignal.timeout(REPLY_TIMEOUT_MS),
      });
      if (res.status !== 201) {
        const body = (await res.json().catch(() => ({}))) as { error?: string; reason?: string };
        return void fail(`order ${res.status} ${body.error ?? body.reason ?? ""}`.trim());
      }
      const order = (await res.json()) as { id: string; total: number; currency: string; items: unknown[] };
      this.orders++;
      const body = JSON.stringify({ payment_id: `bench_${order.id}`, order_id: order.id, amount: order.total, currency: order.currency, status: "succeeded" });
      const t = Math.floor(Date.now() / 1000);
      const sig = createHmac("sha256", a.webhookSecret).update(`${t}.${body}`).digest("hex");
      const paid = await fetch(`${a.api}/api/payments/webhook`, { method: "POST", headers: { "content-type": "application/json", "payment-signature": `t=${t},v1=${sig}` }, body, signal: AbortSignal.timeout(REPLY_TIMEOUT_MS) });
      const r = (await paid.json().catch(() => ({}))) as { order_status?: string };
      if (!paid.ok || r.order_status !== "paid") return void fail(`payment ${paid.status} ${r.order_status ?? ""}`.trim());
      this.seatsBought += order.items.length;
      this.lastPaidAt = now();
    } catch (err) {
      fail(`fetch ${(err as Error).name}`);
    }
  }

  /** A human: 1–4 seats, a think time before each lock, then the order and the payment. */
  private async human(a: ShopArgs): Promise<void> {
    const want = 1 + Math.floor(Math.random() * 4);
    let held = 0;
    let attempts = 0;
    let noFreeSince = 0;
    while (held < want && attempts < a.maxAttempts && !this.closed && now() < a.deadline) {
      await sleep(a.thinkMinMs + Math.random() * (a.thinkMaxMs - a.thinkMinMs));
      const seat = this.pickFree(a.seats, a.pickBest);
      if (!seat) {
        noFreeSince ||= now();
        if (now() - noFreeSince > a.giveUpMs) break;
        continue;
      }
      noFreeSince = 0;
      attempts++;
      const r = await this.lock(seat);
      if (r.status === "ok") held++;
      else if (r.response.reason === "not_admitted" || r.response.reason === "hold_limit" || r.response.reason === "user_limit") break;
    }
    if (held > 0) await this.orderAndPay(a);
  }

  /** A bot: random free seats as fast as the token bucket allows; orders each full hold. */
  private async bot(a: ShopArgs): Promise<void> {
    let tokens = a.burst;
    let last = now();
    let held = 0;
    let noFreeSince = 0;
    while (!this.closed && now() < a.deadline) {
      const t = now();
      tokens = Math.min(a.burst, tokens + ((t - last) * a.rate) / 1000);
      last = t;
      if (tokens < 1) {
        await sleep(Math.ceil(((1 - tokens) * 1000) / a.rate));
        continue;
      }
      const seat = this.pickFree(a.seats);
      if (!seat) {
        if (held > 0) {
          await this.orderAndPay(a);
          held = 0;
        }
        noFreeSince ||= now();
        if (now() - noFreeSince > a.giveUpMs) break;
        await sleep(50);
        continue;
      }
      noFreeSince = 0;
      tokens -= 1;
      const r = await this.lock(seat);
      const reason = r.response.reason;
      if (r.status === "ok") held++;
      else if (reason === "rate_limited") tokens = 0;
      else if (reason === "not_admitted" || reason === "user_limit") break;
      if (held >= a.holdMax || (reason === "hold_limit" && held > 0)) {
        await this.orderAndPay(a);
        held = 0;
      }
    }
    if (held > 0) await this.orderAndPay(a);
  }

  async shop(a: ShopArgs): Promise<void> {
    try {
      if (!(await this.turn(a)) || this.closed || now() >= a.deadline) return;
      this.shopped = true;
      this.shopStartAt = now();
      if (this.spec.room && !(await this.joinSeats())) return;
      if (this.spec.role === "bot") await this.bot(a);
      else await this.human(a);
      await this.leave("seats");
      if (this.spec.room) await this.leave("queue");
    } finally {
      this.done = true;
    }
  }

  close(): void {
    this.closed = true;
    this.ws?.terminate();
  }
}

let clients: RoomClient[] = [];
let heartbeat: NodeJS.Timeout | undefined;

/** Opens every client (timed), then makes each one's first join (timed): the queue, or without a room the seat map. */
async function qConnect(a: { specs: QueueSpec[]; concurrency?: number }) {
  const fresh = a.specs.map((s) => new RoomClient(s));
  const { failed, refused, connectMs, joinMs } = await openAndJoin(fresh, a.concurrency ?? 100);
  clients.push(...fresh);
  heartbeat ??= keepAlive(() => clients);
  const states: Record<string, number> = {};
  for (const c of fresh) if (c.joinState) states[c.joinState] = (states[c.joinState] ?? 0) + 1;
  return { opened: fresh.length - failed, failed, refused, connectMs, joinMs, states, withPosition: fresh.filter((c) => c.position >= 0).length };
}

/** Pushes received so far, and the clients still waiting on the queue topic (the position window's denominator). */
function qMark() {
  let positionPushes = 0;
  let waiting = 0;
  let positioned = 0;
  /** Position pushes per client, by user token's position in the list (the window's spread). */
  const each: number[] = [];
  for (const c of clients) {
    each.push(c.positionPushes);
    positionPushes += c.positionPushes;
    if (c.position >= 0) positioned++;
    if (!c.closed && c.spec.room && !c.admittedAt && !c.soldOutAt) waiting++;
  }
  return { positionPushes, waiting, positioned, each };
}

/** Every buyer and bot shops (at its turn); returns when all are done, or at the deadline. */
async function qShop(a: ShopArgs) {
  const shoppers = clients.filter((c) => c.spec.role !== "waiter" && !c.closed);
  await Promise.race([Promise.all(shoppers.map((c) => c.shop(a))), sleep(Math.max(0, a.deadline - now()) + 2 * REPLY_TIMEOUT_MS)]);
  return { done: shoppers.filter((c) => c.done).length, shoppers: shoppers.length };
}

function qResults() {
  const add = (into: Record<string, number>, from: Record<string, number>) => {
    for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  };
  const humans = { n: 0, admitted: 0, shopped: 0, withSeats: 0, seats: 0, locksOk: 0, refused: 0, reasons: {} as Record<string, number>, orders: 0, orderFails: {} as Record<string, number>, joinFails: {} as Record<string, number>, passRefused: 0, lastPaidAt: 0, rtt: new Histogram() };
  const bots: { seats: number; locksOk: number; refused: number; rateLimited: number; reasons: Record<string, number>; admittedAt: number; shopStartAt: number; firstLockAt: number; orders: number; orderFails: Record<string, number>; lastPaidAt: number }[] = [];
  const botRtt = new Histogram();
  const waiters = { n: 0, positionPushes: 0, positioned: 0, ups: 0, upExample: "", admittedPushes: 0, admittedUsers: 0, admittedTwice: 0, soldOutAt: [] as number[], firstPositionAt: [] as number[], admittedAt: [] as number[], errors: 0, closed: 0 };
  for (const c of clients) {
    if (c.spec.room) {
      waiters.n++;
      waiters.positionPushes += c.positionPushes;
      if (c.position >= 0) waiters.positioned++;
      waiters.ups += c.ups;
      waiters.upExample ||= c.upExample;
      waiters.admittedPushes += c.admittedPushes;
      if (c.admittedAt) {
        waiters.admittedUsers++;
        waiters.admittedAt.push(c.admittedAt);
      }
      if (c.admittedPushes > 1) waiters.admittedTwice++;
      if (c.soldOutAt) waiters.soldOutAt.push(c.soldOutAt);
      if (c.firstPositionAt) waiters.firstPositionAt.push(c.firstPositionAt);
    }
    waiters.errors += c.errors;
    if (c.closed) waiters.closed++;
    if (c.spec.role === "bot") {
      botRtt.merge(c.rtt);
      bots.push({ seats: c.seatsBought, locksOk: c.locksOk, refused: c.refused, rateLimited: c.rateLimited, reasons: c.reasons, admittedAt: c.admittedAt, shopStartAt: c.shopStartAt, firstLockAt: c.firstLockAt, orders: c.orders, orderFails: c.orderFails, lastPaidAt: c.lastPaidAt });
    } else if (c.spec.role === "buyer") {
      humans.n++;
      if (c.admittedAt) humans.admitted++;
      if (c.shopped) humans.shopped++;
      if (c.seatsBought > 0) humans.withSeats++;
      humans.seats += c.seatsBought;
      humans.locksOk += c.locksOk;
      humans.refused += c.refused;
      add(humans.reasons, c.reasons);
      humans.orders += c.orders;
      add(humans.orderFails, c.orderFails);
      if (c.joinFailed) add(humans.joinFails, { [c.joinFailed]: 1 });
      if (c.passRefused) humans.passRefused++;
      humans.lastPaidAt = Math.max(humans.lastPaidAt, c.lastPaidAt);
      humans.rtt.merge(c.rtt);
    }
  }
  return { humans: { ...humans, rtt: humans.rtt.toJSON() }, bots, botRtt: botRtt.toJSON(), waiters };
}

/** Closes (and forgets) the clients connected to `port`; returns how many. */
function qDrop(a: { port: number }) {
  const gone = clients.filter((c) => c.spec.port === a.port);
  for (const c of gone) c.close();
  clients = clients.filter((c) => c.spec.port !== a.port);
  return gone.length;
}

function qCloseAll() {
  for (const c of clients) c.close();
  clients = [];
  if (heartbeat) clearInterval(heartbeat);
  heartbeat = undefined;
}

export const queueCommands = { qConnect, qMark, qShop, qResults, qDrop, qCloseAll };
