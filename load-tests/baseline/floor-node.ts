/**
 * The floor the benchmark measures the cluster against: the least a correct seat lock over Redis
 * can cost, on the same stack (uWebSockets.js, ioredis) and the same wire (Phoenix V2 frames, so the
 * same generator drives it). A lock is one script: `SET NX PX`, `INCR` for a sequence number,
 * `PUBLISH`; an unlock a compare-and-delete with the same two steps. No holds, no log, no expiry,
 * no sessions, no limits, no metrics: every µs the cluster spends above this is its features' cost.
 * Bench-only; not part of the product. Env: PORT, REDIS_URL, PREFIX.
 */
import uWS from "uWebSockets.js";
import { Redis } from "ioredis";

const port = Number(process.env.PORT ?? 5100);
const prefix = process.env.PREFIX ?? "floor";
const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableAutoPipelining: true });
const sub = redis.duplicate();

const LOCK = `if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', 600000) then return -1 end
local seq = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], cjson.encode({ t = 'locked', seat = ARGV[2], seq = seq }))
return seq`;
const UNLOCK = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
local seq = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], cjson.encode({ t = 'unlocked', seat = ARGV[2], seq = seq }))
return seq`;
redis.defineCommand("floorLock", { numberOfKeys: 3, lua: LOCK });
redis.defineCommand("floorUnlock", { numberOfKeys: 3, lua: UNLOCK });
type Script = (lock: string, seq: string, channel: string, user: string, seat: string) => Promise<number>;
const scripts = redis as unknown as { floorLock: Script; floorUnlock: Script };

const keys = (event: string, seat = "") => [`${prefix}:{${event}}:lock:${seat}`, `${prefix}:{${event}}:seq`, `${prefix}:{${event}}:ch`] as const;
const subscribed = new Set<string>();
const app = uWS.App();
// Fan-out coalesced as the cluster's `changes` frames are (one frame per event per tick with each
// changed seat's final state), so the floor's fan-out has the same shape as what it is compared with.
const TICK_MS = 50;
const pending = new Map<string, { since: number; seq: number; seats: Record<string, string> }>();
sub.on("message", (channel: string, message: string) => {
  const m = JSON.parse(message) as { t: string; seat: string; seq: number };
  const event = channel.slice(channel.indexOf("{") + 1, channel.indexOf("}"));
  let p = pending.get(event);
  if (!p) {
    pending.set(event, (p = { since: m.seq - 1, seq: m.seq, seats: {} }));
    setTimeout(() => {
      pending.delete(event);
      app.publish(`seats:${event}`, JSON.stringify([null, null, `seats:${event}`, "changes", { since: p!.since, seq: p!.seq, seats: p!.seats }]));
    }, TICK_MS);
  }
  p.seq = Math.max(p.seq, m.seq);
  p.seats[m.seat] = m.t === "locked" ? "locked" : "available";
});

interface Data {
  user: string;
  /** uWS throws on a send to a closed socket: replies that arrive after the close are dropped. */
  closed: boolean;
}
app.ws<Data>("/socket/websocket", {
  upgrade: (res, req, context) => {
    const user = new URLSearchParams(req.getQuery() ?? "").get("token") ?? String(Math.random());
    res.upgrade({ user, closed: false }, req.getHeader("sec-websocket-key"), req.getHeader("sec-websocket-protocol"), req.getHeader("sec-websocket-extensions"), context);
  },
  close: (ws) => {
    ws.getUserData().closed = true;
  },
  message: (ws, raw) => {
    const [joinRef, ref, topic, event, payload] = JSON.parse(Buffer.from(raw).toString("utf8")) as [string, string, string, string, { seat?: string }];
    const reply = (status: string, response: unknown): void => {
      if (!ws.getUserData().closed) ws.send(JSON.stringify([joinRef, ref, topic, "phx_reply", { status, response }]));
    };
    const eventId = topic.slice(topic.indexOf(":") + 1);
    if (event === "heartbeat") {
      reply("ok", {});
      return;
    }
    if (event === "phx_join") {
      ws.subscribe(topic);
      if (!subscribed.has(eventId)) {
        subscribed.add(eventId);
        void sub.subscribe(keys(eventId)[2]);
      }
      void redis.get(keys(eventId)[1]).then((seq) => reply("ok", { seq: Number(seq ?? 0) }));
      return;
    }
    const seat = String(payload?.seat ?? "");
    const user = ws.getUserData().user;
    const run = event === "lock" ? scripts.floorLock : event === "unlock" ? scripts.floorUnlock : null;
    if (!run) {
      reply("error", { reason: "unsupported_event" });
      return;
    }
    void run.call(redis, ...keys(eventId, seat), user, seat).then((seq) => reply(seq < 0 ? "error" : "ok", seq < 0 ? { reason: event === "lock" ? "already_locked" : "not_yours", seat } : { seat, seq }));
  },
});
app.get("/healthz", (res) => void res.end("ok"));
app.listen("127.0.0.1", port, () => {});

const stop = () => {
  redis.disconnect();
  sub.disconnect();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
