import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import type { TestEnv } from "./test-env.ts";

/**
 * A ws-node in its own process (`apps/ws-node/src/main.ts` under tsx), for faults an in-process
 * node cannot play: `kill("SIGKILL")` is a real kill -9, with no close handlers, no "gone" writes,
 * nothing. It uses the test env's database, Redis prefix and secrets.
 */
export interface ChildNode {
  port: number;
  nodeId: string;
  process: ChildProcess;
  /** kill -9, and wait until the process is gone. */
  kill(): Promise<void>;
  /** What the process wrote to stderr so far (with `captureStderr`; it is passed on to ours as well). */
  stderr(): string;
}

const mainTs = fileURLToPath(new URL("../../apps/ws-node/src/main.ts", import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export async function startChildNode(env: TestEnv, o: { nodeId?: string; overrides?: Record<string, string>; captureStderr?: boolean } = {}): Promise<ChildNode> {
  const port = await freePort();
  const nodeId = o.nodeId ?? `child-${port}`;
  const c = env.config;
  const child = spawn(process.execPath, ["--import", "tsx", mainTs], {
    env: {
      ...process.env,
      NODE_ENV: "test",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
      HOST: "127.0.0.1",
      WS_PORT: String(port),
      NODE_ID: nodeId,
      DATABASE_URL: c.DATABASE_URL,
      REDIS_URL: c.REDIS_URL,
      REDIS_PREFIX: c.REDIS_PREFIX,
      JWT_SECRET: c.JWT_SECRET ?? "",
      SERVICE_SECRET: c.SERVICE_SECRET ?? "",
      ...o.overrides,
    },
    stdio: ["ignore", "ignore", o.captureStderr ? "pipe" : "inherit"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
    process.stderr.write(chunk);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const until = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`child ws-node exited with ${child.exitCode} before it was ready`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) {
      child.kill("SIGKILL");
      throw new Error("child ws-node did not become healthy within 20 s");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    nodeId,
    process: child,
    stderr: () => stderr,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}
