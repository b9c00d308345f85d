/**
 * The baseline the benchmark compares against: seat locking as teams commonly build it with
 * Socket.IO — one room per event, `SET NX PX` in Redis for the lock, the author acknowledged, and
 * `socket.to(room).emit("locked")` fanned out across nodes by @socket.io/redis-adapter.
 * It does LESS than the cluster (no holds, no sequence numbers, no log, no expiry jobs), so the
 * comparison flatters it. Bench-only; not part of the product. Env: PORT, REDIS_URL, PREFIX.
 */
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";

const port = Number(process.env.PORT ?? 5000);
const prefix = process.env.PREFIX ?? "sio";
const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const pub = redis.duplicate();
const sub = redis.duplicate();

const http = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200).end("ok");
    return;
  }
  res.writeHead(404).end();
});
const io = new Server(http, { transports: ["websocket"], adapter: createAdapter(pub, sub, { key: `${prefix}#io` }) });

io.on("connection", (socket) => {
  const user = String(socket.handshake.auth?.user ?? socket.id);
  socket.on("join", (eventId: string, ack: (r: unknown) => void) => {
    void socket.join(`event:${eventId}`);
    ack({ ok: true });
  });
  socket.on("lock", async (m: { eventId: string; seat: string }, ack: (r: unknown) => void) => {
    const ok = await redis.set(`${prefix}:${m.eventId}:lock:${m.seat}`, user, "PX", 600_000, "NX");
    if (!ok) return ack({ ok: false, reason: "already_locked" });
    ack({ ok: true, seat: m.seat });
    socket.to(`event:${m.eventId}`).emit("locked", { seat: m.seat });
  });
  socket.on("unlock", async (m: { eventId: string; seat: string }, ack: (r: unknown) => void) => {
    // Compare-and-delete, as a careful team would write it.
    const n = (await redis.eval(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
      1,
      `${prefix}:${m.eventId}:lock:${m.seat}`,
      user,
    )) as number;
    if (n !== 1) return ack({ ok: false, reason: "not_yours" });
    ack({ ok: true, seat: m.seat });
    socket.to(`event:${m.eventId}`).emit("unlocked", { seat: m.seat });
  });
});

http.listen(port, "127.0.0.1");
const stop = () => {
  io.close();
  redis.disconnect();
  pub.disconnect();
  sub.disconnect();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
