import { describe, expect, it } from "vitest";
import type { WebSocket } from "uWebSockets.js";
import { flushSends, newConn, type Conn, type UserData } from "../src/conn.ts";
import type { NodeContext } from "../src/context.ts";
import { Refusal, type ChannelModule, type Joining } from "../src/channels/channel.ts";
import { phoenixCodec, seedCodec } from "../src/channels/codec.ts";
import { ChannelRuntime } from "../src/channels/runtime.ts";

/**
 * The channel runtime's contract with its modules, with a socket that records what uWS was asked
 * to do: every join is answered exactly once, what a join took is released exactly once whichever
 * way it ends (leave, rejoin, close, crash, refusal, a stale join), and pushes in flight are
 * answered before a crash's `phx_error`. The seat, chat, user and queue channels are tested over
 * real sockets elsewhere; this pins the runtime's own rules.
 */
function socket(): { conn: Conn; sent: () => unknown[][]; subs: Set<string> } {
  const frames: string[] = [];
  const subs = new Set<string>();
  const ws = {
    send: (f: string) => (frames.push(f), 1),
    cork: (cb: () => void) => (cb(), ws),
    end: () => {},
    getBufferedAmount: () => 0,
    subscribe: (t: string) => subs.add(t),
    unsubscribe: (t: string) => subs.delete(t),
  };
  const conn = newConn("n", "phx", { userId: "u1", role: "buyer", jti: "j" }, { rate: 100, burst: 100, maxBuffered: 1 << 20, replyStallMs: 1000 });
  conn.ws = ws as unknown as WebSocket<UserData>;
  return {
    conn,
    subs,
    sent: () => {
      flushSends();
      return frames.splice(0).map((f) => JSON.parse(f) as unknown[]);
    },
  };
}

const ctx = {
  config: { WS_JOINS_IN_FLIGHT: 4 },
  logger: { error: () => {}, warn: () => {}, info: () => {} },
  limits: { consume: async () => {} },
} as unknown as NodeContext;

/** A test module: each join is driven by the test through `next`. */
function module(): { mod: ChannelModule<{ n: number }>; released: string[]; next: (f: (j: Joining<{ n: number }>) => Promise<void> | void) => void; gate: { open: () => void } } {
  const released: string[] = [];
  let behaviour: (j: Joining<{ n: number }>) => Promise<void> | void = (j) => j.accept({ hello: 1 }, { n: 1 });
  let release!: () => void;
  const gate = { open: () => release() };
  const mod: ChannelModule<{ n: number }> = {
    label: "seats",
    async join(j) {
      j.subscribe(`t|${j.subtopic}`);
      j.onLeave(() => released.push(j.join.joinRef));
      await behaviour(j);
    },
    async handle(p) {
      if (p.event === "slow") await new Promise<void>((r) => (release = r));
      if (p.event === "no") throw new Refusal({ reason: "malformed_payload", field: "seat" });
      return { n: p.assigns.n };
    },
    crashMessage: "restarted",
    echo: (payload) => (typeof payload.seat === "string" ? { seat: payload.seat } : {}),
  };
  return { mod, released, gate, next: (f) => (behaviour = f) };
}

function runtime(m: ChannelModule<{ n: number }>): ChannelRuntime {
  const rt = new ChannelRuntime(ctx, { phx: phoenixCodec, seed: seedCodec });
  rt.register({ seats: m, event: m, user: m, queue: m });
  return rt;
}

const to = (joinRef: string, ref: string) => ({ joinRef, ref, topic: "seats:e1" });

describe("channel runtime", () => {
  it("answers an accepted join once, routes pushes to it, and a leave releases what it took once", async () => {
    const { mod, released } = module();
    const rt = runtime(mod);
    const s = socket();
    await rt.join(s.conn, to("1", "1"), {});
    expect(s.sent()).toEqual([["1", "1", "seats:e1", "phx_reply", { status: "ok", response: { hello: 1 } }]]);
    expect(s.subs).toEqual(new Set(["t|e1"]));
    await rt.push(s.conn, to("1", "2"), "x", {});
    await rt.push(s.conn, to("1", "3"), "no", {});
    expect(s.sent()).toEqual([
      ["1", "2", "seats:e1", "phx_reply", { status: "ok", response: { n: 1 } }],
      ["1", "3", "seats:e1", "phx_reply", { status: "error", response: { reason: "malformed_payload", field: "seat" } }],
    ]);
    rt.leave(s.conn, to("1", "4"));
    rt.leave(s.conn, to("1", "5"));
    expect(released).toEqual(["1"]);
    expect(s.subs.size).toBe(0);
    expect(s.sent().slice(0, 2)).toEqual([
      ["1", "4", "seats:e1", "phx_reply", { status: "ok", response: {} }],
      ["1", "1", "seats:e1", "phx_close", {}],
    ]);
    await rt.push(s.conn, to("1", "6"), "x", {});
    expect(s.sent()).toEqual([["1", "6", "seats:e1", "phx_reply", { status: "error", response: { reason: "not_joined", message: "join seats:e1 before pushing to it" } }]]);
  });

  it("a module that returns without answering a current join is answered internal_error, and its cleanups run", async () => {
    const { mod, released, next } = module();
    const rt = runtime(mod);
    const s = socket();
    next(() => {});
    await rt.join(s.conn, to("1", "1"), {});
    expect(s.sent()).toEqual([["1", "1", "seats:e1", "phx_reply", { status: "error", response: { reason: "internal_error", message: "temporary failure; retry" } }]]);
    expect(released).toEqual(["1"]);
    expect(s.conn.joins.size).toBe(0);
    expect(s.subs.size).toBe(0);
  });

  it("a join made stale by a newer one sends nothing and releases what it took, without touching the newer join's subscription", async () => {
    const { mod, released, next } = module();
    const rt = runtime(mod);
    const s = socket();
    let resume!: () => void;
    next((j) =>
      new Promise<void>((r) => (resume = r)).then(() => {
        j.subscribe("late|e1"); // a stale join may not subscribe: nothing would ever unsubscribe it
        if (j.current()) j.accept({}, { n: 1 });
      }),
    );
    const first = rt.join(s.conn, to("1", "1"), {});
    await new Promise((r) => setImmediate(r)); // the module's join is running, paused
    const pausedFirst = resume;
    next((j) => j.accept({ second: true }, { n: 2 }));
    await rt.join(s.conn, to("2", "2"), {});
    pausedFirst();
    await first;
    const frames = s.sent();
    // The first join was closed by the second (phx_close on its ref), then the second answered.
    expect(frames).toEqual([
      ["1", "1", "seats:e1", "phx_close", {}],
      ["2", "2", "seats:e1", "phx_reply", { status: "ok", response: { second: true } }],
    ]);
    expect(released).toEqual(["1"]);
    expect(s.subs).toEqual(new Set(["t|e1"]));
    expect(s.conn.joins.get("seats:e1")?.joinRef).toBe("2");
  });

  it("a crash answers the pushes in flight (echoing their seat) before phx_error, and releases the join", async () => {
    const { mod, released, gate } = module();
    const rt = runtime(mod);
    const s = socket();
    await rt.join(s.conn, to("1", "1"), {});
    s.sent();
    const slow = rt.push(s.conn, to("1", "2"), "slow", { seat: "A_1" });
    rt.crash(s.conn, s.conn.joins.get("seats:e1")!, "resync");
    gate.open();
    await slow;
    expect(s.sent()).toEqual([
      ["1", "2", "seats:e1", "phx_reply", { status: "error", response: { reason: "resync", retryable: true, message: "restarted", seat: "A_1" } }],
      ["1", "1", "seats:e1", "phx_error", { reason: "resync" }],
    ]);
    expect(released).toEqual(["1"]);
  });

  it("a closed socket releases every join; an onLeave after the end runs at once", async () => {
    const { mod, released, next } = module();
    const rt = runtime(mod);
    const s = socket();
    let late!: Joining<{ n: number }>;
    next((j) => {
      late = j;
      j.accept({}, { n: 1 });
    });
    await rt.join(s.conn, to("1", "1"), {});
    await rt.join(s.conn, { joinRef: "2", ref: "2", topic: "queue:e2" }, {});
    s.conn.closed = true;
    rt.closed(s.conn);
    expect(released.sort()).toEqual(["1", "2"]);
    late.onLeave(() => released.push("late"));
    expect(released).toContain("late");
  });

  it("joins past WS_JOINS_IN_FLIGHT are refused rate_limited at once", async () => {
    const { mod, next } = module();
    const rt = runtime(mod);
    const s = socket();
    next(() => new Promise(() => {})); // never answered
    for (let i = 0; i < 4; i++) void rt.join(s.conn, { joinRef: `${i}`, ref: `${i}`, topic: `seats:e${i}` }, {});
    await rt.join(s.conn, to("9", "9"), {});
    expect(s.sent()).toEqual([["9", "9", "seats:e1", "phx_reply", { status: "error", response: expect.objectContaining({ reason: "rate_limited", retry_after_ms: 250 }) }]]);
  });

  it("a join resolves to null once joined, else to why not (what the legacy socket's close code follows)", async () => {
    const { mod, next } = module();
    const rt = runtime(mod);
    const s = socket();
    expect(await rt.join(s.conn, to("1", "1"), {})).toBeNull();
    next((j) => j.refuse({ reason: "unknown_event" }));
    expect(await rt.join(s.conn, { joinRef: "2", ref: "2", topic: "seats:e2" }, {})).toBe("unknown_event");
    next(() => {
      throw new Error("Redis went away");
    });
    expect(await rt.join(s.conn, { joinRef: "3", ref: "3", topic: "seats:e3" }, {})).toBe("internal_error");
    expect(await rt.join(s.conn, { joinRef: "4", ref: "4", topic: "nope:e4" }, {})).toBe("unmatched topic");
  });

  it("the legacy codec: a join's ok is startstate, a push's ok is nothing, refusals are the dialect's frames", () => {
    const join = { joinRef: "startstate", ref: "startstate", topic: "seats:e" };
    const push = { joinRef: "startstate", ref: null, topic: "seats:e" };
    expect(JSON.parse(seedCodec.reply(join, "ok", { locked: ["A_1"] })!)).toEqual({ event: "startstate", data: { locked: ["A_1"] } });
    expect(seedCodec.reply(push, "ok", { seat: "A_1" })).toBeNull();
    expect(JSON.parse(seedCodec.reply(push, "error", { reason: "already_locked", seat: "A_1", message: "m" })!)).toEqual({ event: "alreadyLocked", data: "A_1" });
    expect(JSON.parse(seedCodec.reply(join, "error", { reason: "unknown_event", message: "no event" })!)).toEqual({ event: "error", data: { code: "unknown_event", field: "event", message: "no event" } });
    expect(JSON.parse(seedCodec.reply(push, "error", { reason: "hold_limit", seat: "A_1", message: "m" })!)).toEqual({ event: "error", data: { code: "hold_limit", seat: "A_1", message: "m" } });
  });
});
