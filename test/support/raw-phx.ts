import WebSocket from "ws";

/**
 * A raw `ws` client of the Phoenix socket (`/socket/websocket?vsn=2.0.0`), so tests can send frames
 * the stock client never would; records every frame, parsed and verbatim.
 */

export type Frame = [string | null, string | null, string, string, Record<string, unknown>];
export interface Reply {
  status: string;
  response: Record<string, unknown>;
}

/**
 * Polls until `check` returns a value; the failure message is built when it fails. A plain loop,
 * not vitest's `vi.waitFor`: the benchmarks (load-tests/map-read-bench.ts) use this client outside
 * vitest, where `vi` has no state to run on.
 */
export async function until<T>(check: () => T | undefined | false, ms: number, what: () => string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A raw `ws` client of the Phoenix socket, so bad frames can be sent; records every frame, parsed and verbatim. */
export class RawPhx {
  readonly frames: Frame[] = [];
  readonly raw: string[] = [];
  readonly ws: WebSocket;
  closeInfo: { code: number; reason: string } | undefined;
  error: Error | undefined;
  /** Frames from the server that were not JSON (there must be none). */
  unparsable = 0;
  private nextRef = 100;

  constructor(url: string, protocols?: string[], headers?: Record<string, string>) {
    this.ws = new WebSocket(url, protocols ?? [], headers ? { headers } : {});
    this.ws.on("message", (data: WebSocket.RawData) => {
      const text = Buffer.isBuffer(data) ? data.toString("utf8") : Buffer.concat(data as Buffer[]).toString("utf8");
      this.raw.push(text);
      try {
        this.frames.push(JSON.parse(text) as Frame);
      } catch {
        this.unparsable++;
      }
    });
    this.ws.on("close", (code: number, reason: Buffer) => (this.closeInfo = { code, reason: reason.toString() }));
    this.ws.on("error", (err: Error) => (this.error = err));
  }

  opened(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
  }

  ref(): string {
    return String(this.nextRef++);
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  waitFor(pred: (f: Frame) => boolean, what = "a frame", ms = 8000): Promise<Frame> {
    return until(() => this.frames.find(pred), ms, () => `${what}; got ${JSON.stringify(this.frames)} close=${JSON.stringify(this.closeInfo)}`);
  }

  /** The reply to `ref` (there must be exactly one, checked by the callers that care). */
  async reply(ref: string, ms = 8000): Promise<Reply> {
    const f = await this.waitFor((x) => x[1] === ref && x[3] === "phx_reply", `the reply to ref ${ref}`, ms);
    return f[4] as unknown as Reply;
  }

  repliesTo(ref: string): Frame[] {
    return this.frames.filter((x) => x[1] === ref && x[3] === "phx_reply");
  }

  /** Sends a phx_join (join_ref = ref) and returns the join ref and the reply. */
  async join(topic: string, payload: Record<string, unknown> = {}): Promise<{ joinRef: string; reply: Reply }> {
    const joinRef = this.ref();
    this.send([joinRef, joinRef, topic, "phx_join", payload]);
    return { joinRef, reply: await this.reply(joinRef) };
  }

  async push(joinRef: string | null, topic: string, event: string, payload: Record<string, unknown>): Promise<Reply> {
    const ref = this.ref();
    this.send([joinRef, ref, topic, event, payload]);
    return this.reply(ref);
  }

  async heartbeat(): Promise<Reply> {
    return this.push(null, "phoenix", "heartbeat", {});
  }

  closed(ms = 8000): Promise<{ code: number; reason: string }> {
    return until(() => this.closeInfo, ms, () => `the socket to close; got ${JSON.stringify(this.frames)}`);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }
}


/** The Phoenix socket URL of a node. */
export function phxUrl(port: number, query: Record<string, string> = {}): string {
  return `ws://127.0.0.1:${port}/socket/websocket?${new URLSearchParams({ vsn: "2.0.0", ...query }).toString()}`;
}
