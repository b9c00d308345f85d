// k6 scenario of a drop: watchers join one event's seat map; buyers lock seats read from the API,
// sometimes let one go, and order what they hold. Point it at your own cluster only.
// k6 is a Go binary, not an npm package: get it from https://k6.io, then:
//   k6 run -e API=http://localhost:3000 -e WS=ws://localhost:8080 -e EVENT=<eventId> load-tests/k6/drop.js
// Buyers: -e TOKENS=tokens.txt (one token per line, made by `npm run k6:tokens -- --count 50`), or
// else BUYERS of them are signed up through the API in setup(), which the API's per-address limit
// (LIMIT_SIGN_UPS_PER_IP, 10 a minute) stops past the tenth from one load machine. Watchers connect
// without a token. The run fails (k6 exits non-zero) past the thresholds in `options`, each
// adjustable: -e LOCK_P99_MS (500), -e CHECKS_RATE (0.99).
// Every socket joins with {"changes": true} (coalesced `changes` frames, compact snapshot);
// -e LEGACY=1 measures the per-change events instead, -e SECTIONS=floor,balcony narrows watchers.
// An event with a waiting room (GET /api/events/:id/waiting_room answers 200): each buyer
// joins `queue:<id>` first (solving the room's proof of work when it asks for one), waits for
// `admitted` (or `sold_out`: then it leaves), and joins the seat map with the pass it was given.
// -e QUEUE_WAIT=<ms> bounds that wait (default 50000; the socket closes at 55 s as before).
// Type-checked in CI (test/k6-typecheck.test.ts, with @types/k6), never run there.
import crypto from "k6/crypto";
import { SharedArray } from "k6/data";
import encoding from "k6/encoding";
import http from "k6/http";
import ws from "k6/ws";
import { check, fail } from "k6";
import { Counter, Trend } from "k6/metrics";

const API = __ENV.API || "http://localhost:3000";
const WS = __ENV.WS || "ws://localhost:4000";
const EVENT = __ENV.EVENT || "";
const BUYERS = Number(__ENV.BUYERS || 50);
const DURATION = __ENV.DURATION || "1m";
const QUEUE_WAIT = Number(__ENV.QUEUE_WAIT || 50000);
const givenTokens = new SharedArray("tokens", () => (__ENV.TOKENS ? open(__ENV.TOKENS).split("\n").filter(Boolean) : []));

const lockRtt = new Trend("lock_rtt", true);
const lockRefused = new Counter("lock_refused");
const unlocks = new Counter("unlocks");
const ordersCreated = new Counter("orders_created");
const ordersRefused = new Counter("orders_refused");
const frames = new Counter("watcher_frames");
const frameBytes = new Counter("watcher_bytes");
const queueWait = new Trend("queue_wait", true);
const queueOutcome = new Counter("queue_outcome");
const joinParams = __ENV.LEGACY ? {} : { changes: true, ...(__ENV.SECTIONS ? { sections: __ENV.SECTIONS.split(",") } : {}) };
const buyerJoin = __ENV.LEGACY ? {} : { changes: true };

export const options = {
  scenarios: {
    watchers: { executor: "constant-vus", vus: Number(__ENV.WATCHERS || 500), duration: DURATION, exec: "watch" },
    buyers: { executor: "constant-vus", vus: BUYERS, duration: DURATION, exec: "buy" },
  },
  // What a drop must hold: locks answered fast, and (nearly) every join, queue step and order check passing.
  thresholds: {
    lock_rtt: [`p(99)<${Number(__ENV.LOCK_P99_MS || 500)}`],
    checks: [`rate>${Number(__ENV.CHECKS_RATE || 0.99)}`],
  },
};

/** The user id (`sub`) of a token, read from its payload (the cluster checks the signature, not this script). */
function tokenUser(/** @type {string} */ token) {
  return String(JSON.parse(encoding.b64decode(token.split(".")[1], "rawurl", "s")).sub);
}

/**
 * @typedef {{ bits: number, challenge: string } | null} Room the event's waiting room (proof-of-work bits and challenge), null without one
 * @typedef {{ seats: string[], tokens: string[], users: string[], room: Room }} Data
 */

/**
 * The event's seat ids, from the layout endpoint (never hard-coded), whether it has a waiting room,
 * and one signed-up buyer per buyer VU.
 * @returns {Data}
 */
export function setup() {
  if (!EVENT) fail("set -e EVENT=<eventId>");
  const layout = http.get(`${API}/api/events/${EVENT}/layout`);
  if (layout.status !== 200) fail(`GET /api/events/${EVENT}/layout answered ${layout.status}`);
  const seats = /** @type {{ id: string }[]} */ (layout.json("seats")).map((s) => s.id);
  const status = http.get(`${API}/api/events/${EVENT}/waiting_room`);
  if (status.status !== 200 && status.status !== 404) fail(`GET /api/events/${EVENT}/waiting_room answered ${status.status}`);
  const room = status.status === 200 ? { bits: Number(status.json("pow_bits") || 0), challenge: String(status.json("challenge") || "") } : null;
  if (givenTokens.length > 0) {
    const tokens = [...givenTokens];
    return { seats, tokens, users: tokens.map(tokenUser), room };
  }
  const tokens = [];
  const users = [];
  const run = `${Date.now()}`;
  for (let i = 0; i < BUYERS; i++) {
    const body = { user_params: { username: `k6-${run}-${i}`, email: `k6-${run}-${i}@example.com`, password_hash: `k6-password-${run}` } };
    const r = http.post(`${API}/api/users/create`, JSON.stringify(body), { headers: { "content-type": "application/json" } });
    if (r.status === 429) fail(`sign-up ${i + 1} refused 429: the API allows LIMIT_SIGN_UPS_PER_IP sign-ups per address; make the buyers with \`npm run k6:tokens -- --count ${BUYERS}\` and pass -e TOKENS=tokens.txt`);
    if (r.status !== 201) fail(`sign-up answered ${r.status}: ${r.body}`);
    tokens.push(String(r.json("token")));
    users.push(String(r.json("user.id")));
  }
  return { seats, tokens, users, room };
}

/**
 * The room's proof of work: a nonce such that SHA-256("<challenge>:<user id>:<nonce>") starts with
 * `bits` zero bits (bounded: 2^(bits + 4) tries).
 * @param {string} challenge @param {string} userId @param {number} bits
 */
function solvePow(challenge, userId, bits) {
  for (let i = 0; i < 2 ** (bits + 4); i++) {
    const hex = crypto.sha256(`${challenge}:${userId}:${i}`, "hex");
    let zero = 0;
    for (const c of hex) {
      const v = parseInt(c, 16);
      if (v === 0) {
        zero += 4;
        continue;
      }
      zero += Math.clz32(v) - 28;
      break;
    }
    if (zero >= bits) return String(i);
  }
  fail(`no proof of work of ${bits} bits found`);
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

/** @param {Data} data */
export function buy(data) {
  const token = data.tokens[(__VU - 1) % data.tokens.length];
  const userId = data.users[(__VU - 1) % data.users.length];
  const taken = new Set();
  /** @type {string[]} */
  const held = [];
  ws.connect(url(token), {}, (socket) => {
    let ref = 2;
    // The seat map's join ref: "2" (refs "1" is the waiting room's join, when the event has one).
    const seatsRef = "2";
    const queueTopic = `queue:${EVENT}`;
    /** @type {Record<string, { at: number, event: string, seat: string }>} */
    const sent = {};
    let queuedAt = 0;
    let shopping = false;
    const pushSeat = (/** @type {string} */ event, /** @type {string} */ seat) => {
      const r = String(++ref);
      sent[r] = { at: Date.now(), event, seat };
      socket.send(JSON.stringify([seatsRef, r, topic, event, { seat }]));
    };
    const joinSeats = (/** @type {string | undefined} */ pass) => {
      if (shopping) return;
      shopping = true;
      socket.send(JSON.stringify([seatsRef, seatsRef, topic, "phx_join", pass ? { ...buyerJoin, pass } : buyerJoin]));
    };
    const admitted = (/** @type {string} */ pass) => {
      queueWait.add(Date.now() - queuedAt);
      queueOutcome.add(1, { outcome: "admitted" });
      joinSeats(pass);
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
    socket.on("open", () => {
      if (!data.room) return joinSeats(undefined);
      queuedAt = Date.now();
      socket.send(JSON.stringify(["1", "1", queueTopic, "phx_join", data.room.bits > 0 ? { nonce: solvePow(data.room.challenge, userId, data.room.bits) } : {}]));
      socket.setTimeout(() => {
        if (shopping) return;
        queueOutcome.add(1, { outcome: "gave_up" });
        socket.close();
      }, QUEUE_WAIT);
    });
    socket.on("message", (raw) => {
      const [, r, t, event, payload] = JSON.parse(String(raw));
      if (t === queueTopic) {
        // The waiting room: the join's reply, then `position`, `admitted` or `sold_out` pushes.
        if (event === "phx_reply" && r === "1") {
          check(payload, { "queue joined": (p) => p.status === "ok" });
          if (payload.status !== "ok") return socket.close();
          if (payload.response.state === "admitted") admitted(payload.response.pass);
          else if (payload.response.state === "sold_out" || payload.response.state === "closed") {
            queueOutcome.add(1, { outcome: payload.response.state });
            socket.close();
          }
        } else if (event === "admitted") admitted(payload.pass);
        else if (event === "sold_out" && !shopping) {
          queueOutcome.add(1, { outcome: "sold_out" });
          socket.close();
        }
        return;
      }
      if (event === "locked" || event === "reserved" || event === "paid") taken.add(payload.seat);
      if (event === "unlocked") taken.delete(payload.seat);
      if (event === "changes") for (const id of Object.keys(payload.seats)) payload.seats[id] === "available" ? taken.delete(id) : taken.add(id);
      if (event !== "phx_reply") return;
      if (r === seatsRef) {
        check(payload, { joined: (p) => p.status === "ok" });
        if (data.room) check(payload, { "pass accepted": (p) => p.response.waiting_room && p.response.waiting_room.admitted === true });
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
          // The turn ended: this buyer would queue again; the script's buyer stops here.
          if (payload.response.reason === "not_admitted") return socket.close();
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
