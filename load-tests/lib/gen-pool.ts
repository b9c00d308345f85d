/**
 * The load generator's child processes (lib/generator.ts) and a small RPC over their IPC channel.
 * Clients are dealt round-robin, so each child gets an even share of every role.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { root } from "./procs.ts";

export class GenPool {
  private readonly procs: ChildProcess[] = [];
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      const p = spawn(process.execPath, ["--import", "tsx", "load-tests/lib/generator.ts"], { cwd: root, stdio: ["ignore", "inherit", "inherit", "ipc"] });
      p.on("message", (m: { id: number; result?: unknown; error?: string }) => {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.error !== undefined) w?.reject(new Error(`generator ${i}: ${m.error}`));
        else w?.resolve(m.result);
      });
      this.procs.push(p);
    }
  }

  get pids(): number[] {
    return this.procs.map((p) => p.pid!);
  }

  call<T>(i: number, cmd: string, args: unknown = {}): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.procs[i]!.send({ id, cmd, args });
    });
  }

  /** The same command on every child; `args(i)` gives each its own arguments. */
  all<T>(cmd: string, args: (i: number) => unknown = () => ({})): Promise<T[]> {
    return Promise.all(this.procs.map((_, i) => this.call<T>(i, cmd, args(i))));
  }

  /** Deals `items` round-robin over the children. */
  deal<T>(items: T[]): T[][] {
    const out: T[][] = this.procs.map(() => []);
    items.forEach((x, i) => out[i % this.size]!.push(x));
    return out;
  }

  close(): void {
    for (const p of this.procs) p.kill("SIGTERM");
  }
}
