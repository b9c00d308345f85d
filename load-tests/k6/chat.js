// k6 scenario of an event's chat room during a show: ticket holders join `event:<id>`, post
// messages and typing notices; it measures the reply round trip and how late others receive each
// message. Point it at your own cluster only.
//   k6 run -e WS=ws://localhost:8080 -e EVENT=<eventId> -e TOKENS=tokens.txt load-tests/k6/chat.js
// TOKENS: one JWT per line, each of a user holding a valid ticket for the event (the room admits
// ticket holders only): `npm run k6:tokens -- --count 100 --event <eventId> --tickets --out tokens.txt`
// makes them. The room must be active (CHAT_ACTIVATE_BEFORE_MS before the start). The run fails
// (k6 exits non-zero) past the thresholds in `options`: -e SEND_P99_MS (500), -e LAG_P99_MS (1000).
// Type-checked in CI (test/k6-typecheck.test.ts, with @types/k6), never run there.
import ws from "k6/ws";
import { check, fail } from "k6";
import { SharedArray } from "k6/data";
import { Counter, Trend } from "k6/metrics";

const WS = __ENV.WS || "ws://localhost:4000";
const EVENT = __ENV.EVENT || "";
const tokens = new SharedArray("tokens", () => (__ENV.TOKENS ? open(__ENV.TOKENS).split("\n").filter(Boolean) : []));

const sendRtt = new Trend("chat_send_rtt", true);
const deliveryLag = new Trend("chat_delivery_lag", true);
const delivered = new Counter("chat_delivered");
const refused = new Counter("chat_refused");

export const options = {
  scenarios: {
    members: { executor: "constant-vus", vus: Number(__ENV.MEMBERS || 100), duration: __ENV.DURATION || "1m", exec: "member" },
  },
  thresholds: {
    chat_send_rtt: [`p(99)<${Number(__ENV.SEND_P99_MS || 500)}`],
    chat_delivery_lag: [`p(99)<${Number(__ENV.LAG_P99_MS || 1000)}`],
  },
};

export function setup() {
  if (!EVENT) fail("set -e EVENT=<eventId>");
  if (tokens.length === 0) fail("set -e TOKENS=<file with one ticket holder's JWT per line>");
}

const topic = `event:${EVENT}`;

export function member() {
  const token = tokens[(__VU - 1) % tokens.length];
  ws.connect(`${WS}/socket/websocket?vsn=2.0.0&token=${token}`, {}, (socket) => {
    let ref = 1;
    /** @type {Record<string, number>} */
    const sent = {};
    const say = () => {
      const r = String(++ref);
      sent[r] = Date.now();
      socket.send(JSON.stringify(["1", String(++ref), topic, "user_typing", { typing: true }]));
      // The send time rides in the text, so receivers can measure how late it reached them.
      socket.send(JSON.stringify(["1", r, topic, "new_message", { content: `k6 ${Date.now()} from VU ${__VU}` }]));
    };
    socket.on("open", () => socket.send(JSON.stringify(["1", "1", topic, "phx_join", {}])));
    socket.on("message", (raw) => {
      const [, r, , event, payload] = JSON.parse(String(raw));
      if (event === "new_message") {
        const m = /^k6 (\d+) /.exec(String(payload.content));
        if (m) deliveryLag.add(Date.now() - Number(m[1]));
        delivered.add(1);
        return;
      }
      if (event !== "phx_reply") return;
      if (r === "1") {
        if (!check(payload, { joined: (p) => p.status === "ok" })) socket.close();
        else socket.setInterval(say, 2000 + Math.random() * 3000);
        return;
      }
      if (sent[r] !== undefined) {
        sendRtt.add(Date.now() - sent[r]);
        if (payload.status !== "ok") refused.add(1, { reason: String(payload.response.reason) });
        delete sent[r];
      }
    });
    socket.setInterval(() => socket.send(JSON.stringify([null, "hb", "phoenix", "heartbeat", {}])), 30000);
    socket.setTimeout(() => socket.close(), 55000);
  });
}
