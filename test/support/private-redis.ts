import { spawn, type ChildProcess } from "node:child_process";
import { connect, createServer } from "node:net";

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/**
 * A private `redis-server` on `port` (no persistence, as a crashed cache comes back), resolved once
 * it answers PING: what the Redis restart tests kill with -9 and start again empty.
 */
export async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"], { stdio: "ignore" });
  const until = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.write("PING\r\n");
        s.once("data", (d: Buffer) => {
          s.destroy();
          resolve(d.toString().startsWith("+PONG"));
        });
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return child;
    if (Date.now() > until) {
      child.kill("SIGKILL");
      throw new Error("redis-server did not answer within 10 s");
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** kill -9, and wait until the process is gone. */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  await gone;
}
