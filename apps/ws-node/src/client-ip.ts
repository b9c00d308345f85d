import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import proxyaddr from "@fastify/proxy-addr";
import { normaliseIp } from "@seatdrop/limits";

/** Whether an address (at a hop of X-Forwarded-For) is one of TRUSTED_PROXIES: proxy-addr's compiled form. */
export type TrustProxy = (addr: string, hop: number) => boolean;

/** Compiles TRUSTED_PROXIES once per node (proxy-addr, as the API's Fastify `trustProxy` does). */
export function compileTrustedProxies(list: readonly string[]): TrustProxy {
  return proxyaddr.compile([...list]);
}

/**
 * The client's address for per-address limits, read synchronously during the upgrade (uWS forbids
 * touching the request after an await). The peer's own address, unless the peer is a trusted proxy
 * (TRUSTED_PROXIES; docs/reliability.md, round two, finding 1: guessing from private-network
 * addresses would let any container name its own address), in which case the hop it added to
 * X-Forwarded-For, read from the right past any other trusted proxy: the same rule as the API's
 * `trustProxy`, so a client cannot pick its own address.
 */
export function clientIp(res: HttpResponse, req: HttpRequest, trust: TrustProxy): string {
  const peer = Buffer.from(res.getRemoteAddressAsText()).toString("utf8");
  const xff = req.getHeader("x-forwarded-for");
  return normaliseIp(proxyaddr({ socket: { remoteAddress: peer }, headers: xff ? { "x-forwarded-for": xff } : {} } as never, trust));
}
