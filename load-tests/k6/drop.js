// k6 scenario of a drop: many watchers join one event's seat map, buyers race to lock seats.
// k6 is not installed by `npm install` (it is a Go binary); get it from https://k6.io, then:
//   k6 run -e WS=ws://localhost:4000 -e EVENT=<eventId> -e TOKENS=tokens.txt load-tests/k6/drop.js
// TOKENS: a file with one buyer JWT per line (watchers connect without a token).
// Every socket joins with {"changes": true} (coalesced `changes` frames, compact snapshot; issue 7);
// -e LEGACY=1 measures the per-change events instead, -e SECTIONS=floor,balcony narrows watchers.
// Point it at your own cluster only.
import ws from "k6/ws";
import { check } from "k6";
import { SharedArray } from "k6/data";
import { Counter, Trend } from "k6/metrics";

const tokens = new SharedArray("tokens", () => (__ENV.TOKENS ? open(__ENV.TOKENS).split("\n").filter(Boolean) : []));
const lockRtt = new Trend("lock_rtt", true);
const refused = new Counter("lock_refused");

export const options = {
  scenarios: {
    watchers: { executor: "constant-vus", vus: Number(__ENV.WATCHERS || 500), duration: __ENV.DURATION || "1m", exec: "watch" },
    buyers: { executor: "constant-vus", vus: Number(__ENV.BUYERS || 50), duration: __ENV.DURATION || "1m", exec: "buy" },
  },
};

const url = (token) => `${__ENV.WS || "ws://localhost:4000"}/socket/websocket?vsn=2.0.0${token ? `&token=${token}` : ""}`;
const topic = `seats:${__ENV.EVENT}`;
const joinParams = __ENV.LEGACY ? {} : { changes: true, ...(__ENV.SECTIONS ? { sections: __ENV.SECTIONS.split(",") } : {}) };
const buyerJoin = __ENV.LEGACY ? {} : { changes: true };
const frames = new Counter("changes_frames");
const frameBytes = new Counter("changes_bytes");

export function watch() {
  ws.connect(url(), {}, (socket) => {
    socket.on("open", () => socket.send(JSON.stringify(["1", "1", topic, "phx_join", joinParams])));
    socket.on("message", (raw) => {
      frames.add(1);
      frameBytes.add(raw.length);
    });
    socket.setInterval(() => socket.send(JSON.stringify([null, "hb", "phoenix", "heartbeat", {}])), 30000);
    socket.setTimeout(() => socket.close(), 55000);
  });
}

export function buy() {
  const token = tokens[__VU % Math.max(1, tokens.length)];
  ws.connect(url(token), {}, (socket) => {
    let ref = 1;
    const sent = {};
    const lockOne = () => {
      const r = String(++ref);
      sent[r] = Date.now();
      const seat = `${String.fromCharCode(65 + Math.floor(Math.random() * 10))}_${1 + Math.floor(Math.random() * 40)}`;
      socket.send(JSON.stringify(["1", r, topic, "lock", { seat }]));
    };
    socket.on("open", () => socket.send(JSON.stringify(["1", "1", topic, "phx_join", buyerJoin])));
    socket.on("message", (raw) => {
      const [, r, , event, payload] = JSON.parse(raw);
      if (event !== "phx_reply") return;
      if (r === "1") {
        check(payload, { joined: (p) => p.status === "ok" });
        lockOne();
      } else if (sent[r]) {
        lockRtt.add(Date.now() - sent[r]);
        if (payload.status !== "ok") refused.add(1, { reason: payload.response.reason });
        delete sent[r];
        socket.setTimeout(lockOne, 200 + Math.random() * 800);
      }
    });
    socket.setTimeout(() => socket.close(), 55000);
  });
}
