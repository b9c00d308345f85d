// k6 scenario of a drop: watchers join one event's seat map; buyers lock seats read from the API,
// sometimes let one go, and order what they hold. Point it at your own cluster only.
// k6 is a Go binary, not an npm package: get it from https://k6.io, then:
//   k6 run -e API=http://localhost:3000 -e WS=ws://localhost:8080 -e EVENT=<eventId> load-tests/k6/drop.js
// Buyers are signed up through the API in setup() (BUYERS of them); watchers connect without a token.
// Every socket joins with {"changes": true} (coalesced `changes` frames, compact snapshot; issue 7);
// -e LEGACY=1 measures the per-change events instead, -e SECTIONS=floor,balcony narrows watchers.
// Type-checked in CI (test/k6-typecheck.test.ts, with @types/k6), never run there.
import http from "k6/http";
import ws from "k6/ws";
import { check, fail } from "k6";
import { Counter, Trend } from "k6/metrics";

const API = __ENV.API || "http://localhost:3000";
const WS = __ENV.WS || "ws://localhost:4000";
const EVENT = __ENV.EVENT || "";
const BUYERS = Number(__ENV.BUYERS || 50);
const DURATION = __ENV.DURATION || "1m";

const lockRtt = new Trend("lock_rtt", true);
const lockRefused = new Counter("lock_refused");
const unlocks = new Counter("unlocks");
const ordersCreated = new Counter("orders_created");
const ordersRefused = new Counter("orders_refused");
const frames = new Counter("watcher_frames");
const frameBytes = new Counter("watcher_bytes");
const joinParams = __ENV.LEGACY ? {} : { changes: true, ...(__ENV.SECTIONS ? { sections: __ENV.SECTIONS.split(",") } : {}) };
const buyerJoin = __ENV.LEGACY ? {} : { changes: true };

export const options = {
  scenarios: {
    watchers: { executor: "constant-vus", vus: Number(__ENV.WATCHERS || 500), duration: DURATION, exec: "watch" },
    buyers: { executor: "constant-vus", vus: BUYERS, duration: DURATION, exec: "buy" },
  },
};

/**
 * The event's seat ids, from the layout endpoint (never hard-coded), and one signed-up buyer per buyer VU.
 * @returns {{ seats: string[], tokens: string[] }}
 */
export function setup() {
  if (!EVENT) fail("set -e EVENT=<eventId>");
  const layout = http.get(`${API}/api/events/${EVENT}/layout`);
  if (layout.status !== 200) fail(`GET /api/events/${EVENT}/layout answered ${layout.status}`);
  const seats = /** @type {{ id: string }[]} */ (layout.json("seats")).map((s) => s.id);
  const tokens = [];
  const run = `${Date.now()}`;
  for (let i = 0; i < BUYERS; i++) {
    const body = { user_params: { username: `k6-${run}-${i}`, email: `k6-${run}-${i}@example.com`, password_hash: `k6-password-${run}` } };
    const r = http.post(`${API}/api/users/create`, JSON.stringify(body), { headers: { "content-type": "application/json" } });
    if (r.status !== 201) fail(`sign-up answered ${r.status}: ${r.body}`);
    tokens.push(String(r.json("token")));
  }
  return { seats, tokens };
}

const url = (/** @type {string | undefined} */ token) => `${WS}/socket/websocket?vsn=2.0.0${token ? `&token=${token}` : ""}`;
const topic = `seats:${EVENT}`;

export function watch() {
  ws.connect(url(undefined), {}, (socket) => {
    socket.on("open", () => socket.send(JSON.stringify(["1", "1", topic, "phx_join", joinParams])));
    socket.on("message", (raw) => {
      frames.add(1);
      frameBytes.add(String(raw).length);
    });
    socket.setInterval(() => socket.send(JSON.stringify([null, "hb", "phoenix", "heartbeat", {}])), 30000);
    socket.setTimeout(() => socket.close(), 55000);
  });
}

/** @param {{ seats: string[], tokens: string[] }} data */
export function buy(data) {
  const token = data.tokens[(__VU - 1) % data.tokens.length];
  const taken = new Set();
  /** @type {string[]} */
  const held = [];
  ws.connect(url(token), {}, (socket) => {
    let ref = 1;
    /** @type {Record<string, { at: number, event: string, seat: string }>} */
    const sent = {};
    const pushSeat = (/** @type {string} */ event, /** @type {string} */ seat) => {
      const r = String(++ref);
      sent[r] = { at: Date.now(), event, seat };
      socket.send(JSON.stringify(["1", r, topic, event, { seat }]));
    };
    const next = () => {
      // Every few steps let a seat go or order what is held; otherwise lock a free one.
      const roll = Math.random();
      if (held.length > 0 && roll < 0.15) return pushSeat("unlock", held[Math.floor(Math.random() * held.length)]);
      if (held.length >= 2 && roll < 0.35) return order();
      const free = data.seats.filter((s) => !taken.has(s));
      if (free.length === 0) return socket.setTimeout(next, 1000);
      pushSeat("lock", free[Math.floor(Math.random() * free.length)]);
    };
    const order = () => {
      const r = http.post(`${API}/api/orders`, JSON.stringify({ event_id: EVENT }), { headers: { "content-type": "application/json", authorization: `Bearer ${token}` } });
      if (r.status === 201) {
        ordersCreated.add(1);
        held.length = 0;
      } else ordersRefused.add(1, { status: String(r.status) });
      socket.setTimeout(next, 500 + Math.random() * 1000);
    };
    socket.on("open", () => socket.send(JSON.stringify(["1", "1", topic, "phx_join", buyerJoin])));
    socket.on("message", (raw) => {
      const [, r, , event, payload] = JSON.parse(String(raw));
      if (event === "locked" || event === "reserved" || event === "paid") taken.add(payload.seat);
      if (event === "unlocked") taken.delete(payload.seat);
      if (event === "changes") for (const id of Object.keys(payload.seats)) payload.seats[id] === "available" ? taken.delete(id) : taken.add(id);
      if (event !== "phx_reply") return;
      if (r === "1") {
        check(payload, { joined: (p) => p.status === "ok" });
        const seats = payload.response && payload.response.seats;
        if (seats) for (const id of Object.keys(seats)) if (seats[id] !== "available") taken.add(id);
        next();
        return;
      }
      const push = sent[r];
      if (!push) return;
      delete sent[r];
      if (push.event === "lock") {
        lockRtt.add(Date.now() - push.at);
        if (payload.status === "ok") held.push(push.seat);
        else {
          taken.add(push.seat);
          lockRefused.add(1, { reason: String(payload.response.reason) });
        }
      } else if (payload.status === "ok") {
        unlocks.add(1);
        held.splice(held.indexOf(push.seat), 1);
      }
      socket.setTimeout(next, 200 + Math.random() * 800);
    });
    socket.setTimeout(() => socket.close(), 55000);
  });
}
