import { randomUUID } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { tickets } from "@seatdrop/db";
import { useCluster } from "../../../test/support/use-cluster.ts";
import { createEvent, createUser, seatIdsGrid } from "../../../test/support/cluster.ts";
import { RawPhx, phxUrl, until, type Frame } from "../../../test/support/raw-phx.ts";
import { createRoomEvent } from "../../../test/support/waiting-room.ts";

/**
 * A bounded fuzz of the Phoenix frame decoder and of every channel handler (seats:, event:, user:,
 * queue:, phoenix) on a running node: random and mutated frames, deep JSON, huge numbers, wrong types,
 * lone surrogates, invalid UTF-8, and frames racing the socket's close. No crash, no unhandled
 * rejection, every reply a documented error (never `internal_error`), every close a documented code,
 * memory flat between two equal rounds, and the node still serves a normal client afterwards.
 */

// The socket limits are raised so the frames reach the handlers instead of the rate limit.
const w = useCluster({ WS_PUSH_RATE: "100000", WS_PUSH_BURST: "100000", LIMIT_TICKET_CLAIMS_PER_USER: "100000", LIMIT_CONNECTS_PER_USER: "100000", LIMIT_QUEUE_JOINS_PER_USER: "100000" }, { nodes: 1, worker: false });

/** Every reason docs/protocol.md documents for an error reply; `internal_error` is deliberately absent. */
const DOCUMENTED_REASONS = new Set([
  "unauthorized", "already_locked", "not_yours", "already_unlocked", "seat_unavailable", "hold_limit", "user_limit", "sales_not_open",
  "sales_closed", "unknown_seat", "no_hold", "extend_limit", "rate_limited", "unknown_event", "unmatched topic", "not_joined",
  "malformed_payload", "malformed_frame", "unsupported_event", "invalid_ticket", "ticket_void", "chat_inactive", "empty_content",
  "content_too_long", "invalid_content", "no_waiting_room", "pow_required", "pow_invalid", "not_admitted", "seat_offered",
]);
/** Close codes docs/protocol.md documents (1000: the test's own close; 1006: dropped without a close frame, or cut by the test). */
const DOCUMENTED_CLOSES = new Set([1000, 1001, 1006, 4400, 4401, 4404, 4408, 4429]);

/** A small seeded PRNG (mulberry32), so a failure can be replayed with the same FUZZ_SEED. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}

const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);
let eventId: string;
let users: { id: string; token: string }[];
let ticketNumbers: string[];
/** An event with a waiting room that asks for a proof of work, drawn and running. */
let roomEventId: string;

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  eventId = await createEvent(w.env, seatIdsGrid(3, 10));
  users = [await createUser(w.env), await createUser(w.env), await createUser(w.env)];
  ticketNumbers = users.map(() => `FUZZ-${randomUUID().slice(0, 8)}`);
  roomEventId = (await createRoomEvent(w.env, seatIdsGrid(2, 10), { opensAt: new Date(Date.now() - 2000), salesOpenAt: new Date(Date.now() - 1000), powBits: 4 })).eventId;
  await w.env.db.db.insert(tickets).values(ticketNumbers.map((n, i) => ({ eventId, ticketNumber: n, userId: i === 0 ? users[0]!.id : null })));
});
afterAll(() => {
  process.off("unhandledRejection", onUnhandled);
});

function framesFor(r: ReturnType<typeof rng>, kind: "answerable" | "hostile"): (string | Buffer)[] {
  const topics = [`seats:${eventId}`, `event:${eventId}`, `user:${users[0]!.id}`, `user:${randomUUID()}`, `seats:${randomUUID()}`, "phoenix", "seats:", "event:NOT-A-UUID", "x".repeat(300), "", "seats:" + eventId.toUpperCase(), `queue:${roomEventId}`, `seats:${roomEventId}`, `queue:${eventId}`, `queue:${randomUUID()}`, "queue:NOT-A-UUID"];
  const events = ["phx_join", "phx_leave", "heartbeat", "lock", "unlock", "extend", "new_message", "user_typing", "history", "phx_reply", "nope", "", "__proto__", "constructor"];
  const deep = (n: number, open: string, close: string) => open.repeat(n) + close.repeat(n);
  const values: (() => unknown)[] = [
    () => r.pick(["A_1", "B_5", "C_10", "Z_99", "", " ", "A_1\u0000", "\ud800", "💺".repeat(50), "x".repeat(3000)]),
    () => r.pick([0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, -0, 123456789012345678901234567890]),
    () => r.pick([true, false, null]),
    () => [],
    () => ({}),
    () => ({ __proto__: { polluted: true } }),
    () => r.pick(ticketNumbers),
    () => r.pick([`1000000${r.int(99)}`, "\u0000", "TKT-" + "9".repeat(100)]),
    () => new Array(r.int(50)).fill(r.pick(["A_1", 1, null])),
    () => r.pick([`${Date.now() + 60_000}.${"A".repeat(43)}`, "1.x", "0", String(r.int(1_000_000)), "n".repeat(65)]),
  ];
  const val = () => r.pick(values)();
  const payload = (): unknown => {
    const keys = ["seat", "seats", "last_seq", "epoch", "ticket_number", "content", "content_type", "typing", "before", "limit", "sections", "changes", "pass", "nonce", "__proto__"];
    const o: Record<string, unknown> = {};
    for (let i = r.int(4); i > 0; i--) o[r.pick(keys)] = val();
    return r.int(10) === 0 ? val() : o;
  };
  const ref = () => r.pick([String(r.int(1000)), null, r.int(1000), "", {}, "x".repeat(500)]);
  const valid = () => JSON.stringify([ref(), ref(), r.pick(topics), r.pick(events), payload()]);
  const mutate = (s: string) => {
    const i = r.int(s.length + 1);
    switch (r.int(5)) {
      case 0: return s.slice(0, i);
      case 1: return s.slice(0, i) + s.slice(i + 1 + r.int(5));
      case 2: return s.slice(0, i) + String.fromCharCode(r.int(0x10000)) + s.slice(i);
      case 3: return s + s;
      default: return s.replace(/"/g, r.pick(["'", "", "\\\""]));
    }
  };
  const out: (string | Buffer)[] = [];
  for (let i = 0; i < 150; i++) {
    if (kind === "answerable") {
      // Frames with a ref to answer: each must get a reply, whatever its topic, event and payload.
      const jr = r.int(3) === 0 ? null : String(r.int(20));
      const rf = String(1000 + i);
      switch (r.int(6)) {
        case 0: out.push(`[${JSON.stringify(jr)},"${rf}",${JSON.stringify(r.pick(topics))},"lock",${deep(1000 + r.int(3000), "[", "]")}]`); break; // deep JSON
        case 1: out.push(`[${JSON.stringify(jr)},"${rf}","seats:${eventId}","lock",{"seat":${'{"a":'.repeat(1500)}1${"}".repeat(1500)}}]`); break;
        case 2: out.push(`[${JSON.stringify(jr)},"${rf}",${JSON.stringify(r.pick(topics))},${JSON.stringify(r.pick(events))},{"seat":1e999,"last_seq":-1e999,"limit":1e400,"before":-0}]`); break; // huge numbers
        default: out.push(JSON.stringify([jr, rf, r.pick(topics), r.pick(events), payload()]));
      }
    } else {
      // Frames that may end the socket (documented: 4400), mixed with answerable ones.
      switch (r.int(6)) {
        case 0: out.push(mutate(valid())); break;
        case 1: out.push(Buffer.from([0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d])); break; // invalid UTF-8, as text
        case 2: out.push(r.pick(["", " ", "null", "[]", "[1,2,3,4,5]", "{}", '"x"', "[null,null,null,null,null]", "\u0000", "[" + "1,".repeat(4000) + "1]"])); break;
        default: out.push(valid());
      }
    }
  }
  return out;
}

interface Round {
  frames: number;
  /** Frames sent with a ref on sockets that stayed open, and the replies they got. */
  answerable: number;
  replies: number;
  closes: number[];
  badReplies: string[];
}

/** One round: several sockets (anonymous and signed in) each get a burst of fuzzed frames; some are killed mid-burst. */
async function round(seed: number): Promise<Round> {
  const r = rng(seed);
  const result: Round = { frames: 0, answerable: 0, replies: 0, closes: [], badReplies: [] };
  const clients: RawPhx[] = [];
  const sent = new Map<RawPhx, (string | Buffer)[]>();
  for (let s = 0; s < 12; s++) {
    const token = s % 3 === 0 ? undefined : users[s % users.length]!.token;
    const c = new RawPhx(phxUrl(w.cluster.nodes[0]!.port, token ? { token } : {}));
    clients.push(c);
    await c.opened();
    // Start each socket in a state where the handlers have work: joined where possible.
    for (const [topic, p] of [[`seats:${eventId}`, {}], [`event:${eventId}`, { ticket_number: ticketNumbers[s % ticketNumbers.length] }], [`user:${users[s % users.length]!.id}`, {}], [`queue:${roomEventId}`, {}], [`seats:${roomEventId}`, {}]] as const) {
      const jr = c.ref();
      c.send([jr, jr, topic, "phx_join", p]);
    }
    const frames = framesFor(r, s % 4 === 3 ? "hostile" : "answerable");
    sent.set(c, frames);
    for (const f of frames) {
      if (c.ws.readyState !== WebSocket.OPEN) break;
      if (typeof f === "string") c.ws.send(f);
      else c.ws.send(f, { binary: false }); // bytes that are not UTF-8, sent as a text frame
      result.frames++;
    }
    // Frames racing the close: some sockets are cut while their frames are in flight.
    if (s % 4 === 1) c.ws.terminate();
  }
  // Every frame with a ref on a socket that stays open is answered, except a join superseded by a
  // later join or leave of the same topic (Phoenix: its reply would carry a stale join_ref, which the
  // client drops; the node closes the old join with phx_close instead).
  const answerableClients = clients.filter((_c, s) => s % 4 === 0 || s % 4 === 2);
  await until(
    () => answerableClients.every((c) => unanswered(c, sent.get(c) ?? []).length === 0),
    30_000,
    () => `a reply to every frame: ${answerableClients.map((c) => `close=${c.closeInfo?.code} unanswered=${JSON.stringify(unanswered(c, sent.get(c) ?? []).map((ref) => (sent.get(c) ?? []).find((f) => typeof f === "string" && f.includes(`"${ref}"`))?.toString().slice(0, 300)))}`).join(", ")}`,
  );
  for (const c of answerableClients) result.answerable += mustAnswer(sent.get(c) ?? []).length;
  await new Promise((res) => setTimeout(res, 300));
  for (const c of clients) {
    expect(c.unparsable).toBe(0);
    for (const f of c.frames) {
      expect(Array.isArray(f) && f.length === 5).toBe(true);
      if (f[3] !== "phx_reply") continue;
      result.replies++;
      const p = f[4] as { status?: string; response?: { reason?: unknown } };
      if (p.status === "error" && !DOCUMENTED_REASONS.has(String(p.response?.reason))) result.badReplies.push(JSON.stringify(f).slice(0, 200));
    }
    c.close();
  }
  await until(() => clients.every((c) => c.ws.readyState === WebSocket.CLOSED), 10_000, () => "the sockets to close");
  for (const c of clients) if (c.closeInfo) result.closes.push(c.closeInfo.code);
  return result;
}

/** The refs of `sent` that must be answered (see `round`). */
function mustAnswer(sent: (string | Buffer)[]): string[] {
  const parsed = sent.map((f) => {
    try {
      const v = typeof f === "string" ? (JSON.parse(f) as unknown) : null;
      return Array.isArray(v) && v.length === 5 ? (v as Frame) : null;
    } catch {
      return null;
    }
  });
  return parsed.flatMap((f, i) => {
    if (!f || typeof f[1] !== "string") return [];
    const superseded = f[3] === "phx_join" && parsed.slice(i + 1).some((g) => g && g[2] === f[2] && (g[3] === "phx_join" || g[3] === "phx_leave"));
    if (superseded) return [];
    // A join may also be answered by `phx_error` on its join_ref (the room resynced while it
    // joined: the stock client rejoins), so it is named by its join_ref too.
    return [f[3] === "phx_join" && typeof f[2] === "string" ? `join:${f[2]}:${typeof f[0] === "string" ? f[0] : f[1]}:${f[1]}` : f[1]];
  });
}

/** The refs that must be answered and were not (for the wait and its failure message). */
function unanswered(c: RawPhx, sent: (string | Buffer)[]): string[] {
  const replied = new Set(c.frames.filter((f) => f[3] === "phx_reply").map((f) => f[1]));
  const errored = new Set(c.frames.filter((f) => f[3] === "phx_error").map((f) => `${f[2]}:${f[0]}`));
  return mustAnswer(sent).flatMap((key) => {
    if (!key.startsWith("join:")) return replied.has(key) ? [] : [key];
    const ref = key.slice(key.lastIndexOf(":") + 1);
    const topicAndJoinRef = key.slice(5, key.lastIndexOf(":"));
    return replied.has(ref) || errored.has(topicAndJoinRef) ? [] : [ref];
  });
}

function heapAfterGc(): number {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

describe("fuzzing the Phoenix socket", () => {
  it("random and mutated frames: no crash, no unhandled rejection, only documented replies and closes, memory flat", async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 8);
    const first = await round(seed);
    const heap1 = heapAfterGc();
    const second = await round(seed + 1);
    const heap2 = heapAfterGc();
    if (process.env.FUZZ_REPORT) console.log(JSON.stringify({ first: { ...first, closes: countBy(first.closes) }, second: { ...second, closes: countBy(second.closes) }, heapGrowthBytes: heap2 - heap1 }));

    for (const r of [first, second]) {
      expect(r.frames).toBeGreaterThan(1000);
      expect(r.replies).toBeGreaterThanOrEqual(r.answerable);
      expect(r.badReplies).toEqual([]);
      for (const code of r.closes) expect(DOCUMENTED_CLOSES.has(code), `close code ${code}`).toBe(true);
    }
    expect(unhandled).toEqual([]);
    // Equal rounds, so the second must not keep what the first did not (sockets, joins, feeds).
    expect(heap2 - heap1).toBeLessThan(16 * 1024 * 1024);

    // The node still serves a normal client.
    const ok = new RawPhx(phxUrl(w.cluster.nodes[0]!.port, { token: users[1]!.token }));
    await ok.opened();
    const { joinRef, reply } = await ok.join(`seats:${eventId}`);
    expect(reply.status).toBe("ok");
    expect((await ok.push(joinRef, `seats:${eventId}`, "extend", {})).response).toBeDefined();
    expect((await ok.heartbeat()).status).toBe("ok");
    ok.close();
  }, 120_000);
});

export type { Frame };

function countBy(xs: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
