import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./slow-link.py", import.meta.url));

/** True when `python3` can run the link (the tests that need it skip, saying so, without it). */
export function slowLinkAvailable(): boolean {
  return spawnSync("python3", ["--version"]).status === 0;
}

/**
 * A slow network path on loopback between a client and a ws-node (see slow-link.py for why it is
 * Python): an Ethernet MSS towards the server, so the server's kernel takes a big frame only a few
 * tens of KB at a time, and the server's bytes carried to the client at `bytesPerSecond`. `stop()`
 * makes the client stop reading (nothing more is carried), `go()` resumes.
 */
export class SlowLink {
  private child: ChildProcess | undefined;
  port = 0;

  constructor(
    private readonly serverPort: number,
    private readonly bytesPerSecond: number,
    private readonly mss = 1448,
  ) {}

  async start(): Promise<number> {
    const child = spawn("python3", [SCRIPT, String(this.serverPort), String(this.bytesPerSecond), String(this.mss)], { stdio: ["pipe", "pipe", "inherit"] });
    this.child = child;
    this.port = await new Promise<number>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`slow-link.py exited with ${code}`)));
      child.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    });
    return this.port;
  }

  stop(): void {
    this.child?.stdin?.write("stop\n");
  }

  go(): void {
    this.child?.stdin?.write("go\n");
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.stdin!.end(); // the script exits when its stdin closes
    await exited;
  }
}
