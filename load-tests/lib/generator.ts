/**
 * A load-generator child process of `npm run bench`. The orchestrator (bench.ts) starts several and
 * spreads clients over them, so thousands of sockets do not share one event loop and the generator
 * is not what limits a run. It talks to the orchestrator over IPC: `{id, cmd, args}` in,
 * `{id, result}` or `{id, error}` out.
 *
 * Clients are raw `ws` Phoenix V2 clients (or socket.io-client for the baseline) that decode only
 * what their role needs:
 * - `buyer`: only replies (a frame without `phx_reply` is counted, never parsed);
 * - `parser`: every frame, keeping the seat map and the receive time of every frame's `seq`;
 * - `counter`: counts frames and bytes and finds the frame's `seq` by scanning the bytes;
 * - `owner`: notes when `deleted` arrives;
 * - `idle`: nothing.
 * The waiting-room scenario's clients (waiters, buyers, bots) are in lib/queue-gen.ts.
 * Every loop is bounded by the orchestrator's deadline and talks to 127.0.0.1 only.
 */
import { performance } from "node:perf_hooks";
import { io as sioConnect, type Socket as SioSocket } from "socket.io-client";
import WebSocket from "ws";
import { SeatMapFollower, STATE_AFTER } from "@seatdrop/protocol";
import { Histogram } from "./histogram.ts";
import { keepAlive, openAndJoin } from "./open-join.ts";
import { queueCommands } from "./queue-gen.ts";

export type Role = "buyer" | "parser" | "counter" | "owner" | "idle";

export interface ClientSpec {
  kind: "phx" | "sio";
  port: number;
  token?: string;
  /** Socket.IO baseline: the user name it locks as. */
  user?: string;
  topic: string;
  /** Phoenix join payload (`{changes: true, sections: [...]}`); null: connect without joining. */
  join: Record<string, unknown> | null;
  role: Role;
  /** The section this client watches (sections scenario), for latency and map checks. */
  section?: string;
  label?: string;
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes. */
export const now = () => performance.timeOrigin + performance.now();

const SEQ_KEY = Buffer.from('"seq":');
const REPLY = Buffer.from('"phx_reply"');
const DELETED = Buffer.from('"deleted"');

/** Seat ids of the sections scenario are `<section>_<row>_<n>`. */
export const sectionOf = (seat: string) => seat.slice(0, seat.indexOf("_"));

function seqIn(buf: Buffer): number {
  const i = buf.lastIndexOf(SEQ_KEY);
  if (i < 0) return -1;
  let n = 0;
  for (let j = i + SEQ_KEY.length; j < buf.length; j++) {
    const c = buf[j]!;
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  return n;
}

type Reply = { status: string; response: Record<string, unknown> };

export class Client {
  ws?: WebSocket;
  sio?: SioSocket;
  ref = 1;
  pending = new Map<string, (r: Reply) => void>();
  frames = 0;
  bytes = 0;
  joinBytes = 0;
  joinSeq = -1;
  maxSeq = -1;
  lastSeq = -1;
  gaps = 0;
  errors = 0;
  closed = false;
  /** While the join is in flight its (possibly large) reply is read by join() alone. */
  joining = false;
  deletedAt = 0;
  /**
   * Parser: the seat map, kept by the shared follower (libs/protocol map-follower.js). A generator
   * client never rejoins: a gap is counted and the frame applied all the same.
   */
  follower: SeatMapFollower;
  /** Parser: [seq, receivedAt] of every seat frame, in arrival order. */
  recv: number[] = [];
  constructor(readonly spec: ClientSpec) {
    this.follower = new SeatMapFollower({ changes: spec.join?.changes === true, applyGaps: true });
  }

  /** Parser: seat -> state, taken seats only. */
  get map(): Map<string, string> {
    return this.follower.seats;
  }

  async open(): Promise<void> {
    const s = this.spec;
    if (s.kind === "sio") {
      const sock = sioConnect(`http://127.0.0.1:${s.port}`, { transports: ["websocket"], auth: { user: s.user }, reconnection: false });
      this.sio = sock;
      await new Promise<void>((resolve, reject) => {
        sock.once("connect", () => resolve());
        sock.once("connect_error", reject);
      });
      sock.on("locked", () => this.count(20));
      sock.on("unlocked", () => this.count(20));
      sock.on("disconnect", () => (this.closed = true));
      return;
    }
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/socket/websocket?vsn=2.0.0${s.token ? `&token=${s.token}` : ""}`, { perMessageDeflate: false });
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    ws.on("error", () => this.errors++);
    ws.on("close", () => (this.closed = true));
    ws.on("message", (data: Buffer) => this.onFrame(data));
  }

  private count(n: number) {
    this.frames++;
    this.bytes += n;
  }

  private onFrame(data: Buffer): void {
    const role = this.spec.role;
    const isReply = data.indexOf(REPLY) >= 0;
    if (isReply && this.joining) return;
    if (!isReply) {
      this.frames++;
      this.bytes += data.length;
    }
    if (role === "parser") return this.parse(data);
    if (isReply) return this.parse(data);
    if (role === "counter") {
      const seq = seqIn(data);
      if (seq > this.maxSeq) this.maxSeq = seq;
    } else if (role === "owner" && this.deletedAt === 0 && data.indexOf(DELETED) >= 0) this.deletedAt = now();
  }

  private parse(data: Buffer): void {
    const t = now();
    const [, ref, , event, payload] = JSON.parse(data.toString()) as [string | null, string | null, string, string, Record<string, unknown>];
    if (event === "phx_reply") {
      if (ref !== null) {
        this.pending.get(ref)?.(payload as unknown as Reply);
        this.pending.delete(ref);
      }
      return;
    }
    if (event === "phx_error" || event === "phx_close") {
      this.errors++;
      return;
    }
    if (event === "deleted" && this.deletedAt === 0) this.deletedAt = t;
    if (this.follower.apply(event, payload) === "resync") this.gaps++;
    const seq = payload.seq;
    if (typeof seq === "number" && (event === "changes" || event === "deleted" || event in STATE_AFTER)) this.note(seq, t);
  }

  private note(seq: number, t: number): void {
    if (seq > this.lastSeq) this.lastSeq = seq;
    if (seq > this.maxSeq) this.maxSeq = seq;
    this.recv.push(seq, t);
  }

  send(event: string, payload: Record<string, unknown>): Promise<Reply> {
    const r = String(++this.ref);
    return new Promise<Reply>((resolve) => {
      if (this.closed || !this.ws) return resolve({ status: "error", response: { reason: "closed" } });
      this.pending.set(r, resolve);
      this.ws.send(JSON.stringify(["1", r, this.spec.topic, event, payload]));
    });
  }

  async join(): Promise<boolean> {
    const s = this.spec;
    if (s.join === null) return true;
    if (this.sio) {
      await this.sio.emitWithAck("join", s.topic);
      return true;
    }
    // The join reply is the one frame a counter parses (for its seq), measured for its size.
    const reply = await new Promise<{ status: string; response: Record<string, unknown>; size: number }>((resolve) => {
      const onRaw = (data: Buffer) => {
        if (data.indexOf(REPLY) < 0) return;
        const text = data.toString();
        const f = JSON.parse(text) as [string, string, string, string, Reply];
        if (f[1] !== "1") return;
        this.ws!.off("message", onRaw);
        resolve({ ...f[4], size: data.length });
      };
      // Registered before the class's own handler sees the reply; the join ref "1" is never pending.
      this.joining = true;
      this.ws!.prependListener("message", onRaw);
      this.ws!.send(JSON.stringify(["1", "1", s.topic, "phx_join", s.join]));
    });
    this.joining = false;
    this.joinBytes = reply.size;
    if (reply.status !== "ok") return false;
    const seq = reply.response.seq as number;
    this.joinSeq = this.lastSeq = this.maxSeq = seq;
    if (s.role === "parser") this.follower.join(reply.response as { mode: string; seq: number });
    return true;
  }

  /** Socket.IO acks reject when the socket drops (a missed ping on an overloaded machine): that client stops. */
  private async sioAck(event: string, seat: string): Promise<{ ok: boolean; seq: number }> {
    try {
      const r = (await this.sio!.emitWithAck(event, { eventId: this.spec.topic, seat })) as { ok: boolean };
      return { ok: r.ok, seq: -1 };
    } catch {
      this.closed = true;
      this.errors++;
      return { ok: false, seq: -1 };
    }
  }

  async lock(seat: string): Promise<{ ok: boolean; seq: number }> {
    if (this.sio) return this.sioAck("lock", seat);
    const r = await this.send("lock", { seat });
    return { ok: r.status === "ok", seq: (r.response.seq as number) ?? -1 };
  }

  async unlock(seat: string): Promise<{ ok: boolean; seq: number }> {
    if (this.sio) return this.sioAck("unlock", seat);
    const r = await this.send("unlock", { seat });
    return { ok: r.status === "ok", seq: (r.response.seq as number) ?? -1 };
  }

  close(): void {
    this.closed = true;
    this.sio?.close();
    this.ws?.terminate();
  }
}

let clients: Client[] = [];
let heartbeat: NodeJS.Timeout | undefined;

/** Opens every client (phase 1, timed), then joins them (phase 2, timed). */
async function connect(a: { specs: ClientSpec[]; concurrency?: number }) {
  const fresh = a.specs.map((s) => new Client(s));
  const { failed, refused, connectMs, joinMs } = await openAndJoin(fresh, a.concurrency ?? 100);
  clients.push(...fresh);
  heartbeat ??= keepAlive(() => clients);
  let joinBytes = 0;
  for (const c of fresh) joinBytes += c.joinBytes;
  return { opened: fresh.length - failed, failed, refused, connectMs, joinMs, joinBytes };
}

/** Closed loop: every buyer locks a random seat and releases it, until the deadline. */
async function buyers(a: { seats: string[]; until: number; release: boolean; ownSeat?: boolean }) {
  const rtt = new Histogram();
  let locks = 0;
  let refused = 0;
  let unlocks = 0;
  let failedUnlocks = 0;
  /** [seat index, lock seq, unlock seq or -1] per granted lock, for the double-hold check. */
  const intervals: number[] = [];
  const held: string[] = [];
  const t0 = now();
  await Promise.all(
    clients
      .filter((c) => c.spec.role === "buyer" && !c.closed)
      .map(async (c) => {
        // ownSeat: the 100-buyer continuity scenario, each buyer on its own seat (its label).
        const own = a.ownSeat ? a.seats.indexOf(c.spec.label ?? "") : -1;
        while (now() < a.until && !c.closed) {
          const i = own >= 0 ? own : Math.floor(Math.random() * a.seats.length);
          const seat = a.seats[i]!;
          let s = now();
          const r = await c.lock(seat);
          if (c.closed) break;
          rtt.add(now() - s);
          if (!r.ok) {
            refused++;
            continue;
          }
          locks++;
          if (!a.release || now() >= a.until) {
            intervals.push(i, r.seq, -1);
            held.push(seat);
            break;
          }
          s = now();
          const u = await c.unlock(seat);
          rtt.add(now() - s);
          if (u.ok) unlocks++;
          else failedUnlocks++;
          intervals.push(i, r.seq, u.ok ? u.seq : -1);
          if (!u.ok) held.push(seat);
        }
      }),
  );
  const dropped = clients.filter((c) => c.spec.role === "buyer" && c.closed).length;
  return { ms: now() - t0, rtt: rtt.toJSON(), locks, refused, unlocks, failedUnlocks, intervals, held, dropped };
}

/**
 * What the watchers saw. `changes` is every seat change made ([seq, repliedAt, sectionIndex]), so
 * each parser's latency is measured per change of its stream, from the author's reply to the first
 * frame covering it. `expected` is the final map from the API (non-available seats only).
 */
function watchStats(a: { changes: number[]; sections: string[]; expected: Record<string, string> | null; only?: "section" | "whole" }) {
  const lat = new Histogram();
  let frames = 0;
  let bytes = 0;
  let delivered = 0;
  let lost = 0;
  let gaps = 0;
  let errors = 0;
  let closed = 0;
  let parsers = 0;
  let converged = 0;
  let mismatched = 0;
  let behind = 0;
  let example = "";
  const n = a.changes.length / 3;
  // Per stream ('' is the whole event): the sorted seqs of its changes and their reply times.
  const streams = new Map<string, { seqs: number[]; at: number[] }>();
  const stream = (key: string) => {
    let s = streams.get(key);
    if (!s) {
      s = { seqs: [], at: [] };
      for (let i = 0; i < n; i++) {
        if (key !== "" && a.sections[a.changes[i * 3 + 2]!] !== key) continue;
        s.seqs.push(a.changes[i * 3]!);
        s.at.push(a.changes[i * 3 + 1]!);
      }
      streams.set(key, s);
    }
    return s;
  };
  const upTo = (seqs: number[], x: number) => {
    let lo = 0;
    let hi = seqs.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (seqs[m]! <= x) lo = m + 1;
      else hi = m;
    }
    return lo;
  };
  for (const c of clients) {
    if (c.spec.role !== "parser" && c.spec.role !== "counter") continue;
    if ((a.only === "section" && !c.spec.section) || (a.only === "whole" && c.spec.section)) continue;
    frames += c.frames;
    bytes += c.bytes;
    errors += c.errors;
    if (c.closed) closed++;
    const s = stream(c.spec.section ?? "");
    delivered += upTo(s.seqs, c.maxSeq) - upTo(s.seqs, c.joinSeq);
    if (c.spec.role !== "parser") continue;
    parsers++;
    gaps += c.gaps;
    // The first frame whose seq covers each change (frames arrive in seq order).
    let f = 0;
    for (let i = upTo(s.seqs, c.joinSeq); i < s.seqs.length; i++) {
      while (f < c.recv.length && c.recv[f]! < s.seqs[i]!) f += 2;
      if (f >= c.recv.length) {
        lost += s.seqs.length - i;
        break;
      }
      lat.add(c.recv[f + 1]! - s.at[i]!);
    }
    if (s.seqs.length > 0 && c.lastSeq < s.seqs[s.seqs.length - 1]!) behind++;
    if (a.expected) {
      let bad = "";
      const mine = (seat: string) => !c.spec.section || sectionOf(seat) === c.spec.section;
      for (const [seat, state] of Object.entries(a.expected)) if (mine(seat) && (c.map.get(seat) ?? "available") !== state) bad ||= `${seat}: ${c.map.get(seat) ?? "available"}, API ${state}`;
      for (const [seat, state] of c.map) if (state !== "available" && mine(seat) && a.expected[seat] === undefined) bad ||= `${seat}: ${state}, API available`;
      if (bad) {
        mismatched++;
        example ||= bad;
      } else converged++;
    }
  }
  let watchers = 0;
  let joinBytes = 0;
  for (const c of clients)
    if ((c.spec.role === "parser" || c.spec.role === "counter") && !((a.only === "section" && !c.spec.section) || (a.only === "whole" && c.spec.section))) {
      watchers++;
      joinBytes += c.joinBytes;
    }
  return { lat: lat.toJSON(), watchers, joinBytes, frames, bytes, delivered, lost, gaps, errors, closed, parsers, converged, mismatched, behind, example };
}

/** Owners of holds: when each heard `deleted`. */
function ownerStats() {
  return clients.filter((c) => c.spec.role === "owner").map((c) => [c.spec.label ?? "", c.deletedAt] as const);
}

/** How many parsers have not yet seen the last change of their stream (`targets`: stream → seq; '' is the whole event). */
function progress(a: { targets: Record<string, number> }) {
  let pending = 0;
  let frames = 0;
  for (const c of clients) {
    frames += c.frames;
    if (c.spec.role !== "parser" || c.closed) continue;
    const target = a.targets[c.spec.section ?? ""] ?? -1;
    if (c.lastSeq < target) pending++;
  }
  return { pending, frames };
}

function closeAll() {
  for (const c of clients) c.close();
  clients = [];
  if (heartbeat) clearInterval(heartbeat);
  heartbeat = undefined;
  return { cpu: process.cpuUsage() };
}

// The waiting-room clients (lib/queue-gen.ts) keep their own list: closeAll does not touch them, qCloseAll does.
const commands: Record<string, (a: never) => unknown> = { connect, buyers, watchStats, ownerStats, progress, closeAll, ping: () => "pong", ...queueCommands };

if (process.send) process.on("message", (m: { id: number; cmd: string; args: unknown }) => {
  void (async () => {
    try {
      const result = await commands[m.cmd]!(m.args as never);
      process.send!({ id: m.id, result });
    } catch (err) {
      process.send!({ id: m.id, error: String((err as Error)?.stack ?? err) });
    }
  })();
});
if (process.send) process.on("disconnect", () => process.exit(0));
