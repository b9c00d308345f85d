import net from "node:net";

/**
 * A TCP proxy on 127.0.0.1 in front of PostgreSQL that a fault test controls. `cut()` makes the
 * database unreachable the nasty way, as a network partition does: nothing is refused or reset,
 * bytes simply stop moving in both directions on open connections, and new connections are accepted
 * but never reach the server. `heal()` lets everything that was held back through, late, as a healed
 * partition does: exactly the moment a write that was given up on could still land.
 */
export class PgProxy {
  private server: net.Server;
  private pairs = new Set<{ client: net.Socket; upstream: net.Socket | null }>();
  private held: (() => void)[] = [];
  private isCut = false;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => this.accept(client));
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  cut(): void {
    this.isCut = true;
  }

  heal(): void {
    this.isCut = false;
    for (const go of this.held.splice(0)) go();
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Copies `from` to `to`, holding every chunk back while the proxy is cut and sending it on heal, in order. */
  private forward(from: net.Socket, to: () => net.Socket | null): void {
    from.on("data", (chunk: Buffer) => {
      const send = () => to()?.write(chunk);
      if (this.isCut || this.held.length > 0) this.held.push(send);
      else send();
    });
  }

  private accept(client: net.Socket): void {
    const pair: { client: net.Socket; upstream: net.Socket | null } = { client, upstream: null };
    this.pairs.add(pair);
    client.on("error", () => {});
    client.on("close", () => {
      pair.upstream?.destroy();
      this.pairs.delete(pair);
    });
    this.forward(client, () => pair.upstream);
    const connect = () => {
      const upstream = net.connect(this.target.port, this.target.host);
      pair.upstream = upstream;
      upstream.on("error", () => client.destroy());
      upstream.on("close", () => client.destroy());
      this.forward(upstream, () => client);
    };
    if (this.isCut) this.held.push(connect);
    else connect();
  }
}
