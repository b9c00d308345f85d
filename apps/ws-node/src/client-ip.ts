import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import { normaliseIp } from "@seatdrop/auth";

/** Loopback, private (RFC 1918, unique local) and link-local addresses: where a trusted proxy sits. */
export function isPrivateIp(ip: string): boolean {
  const v = normaliseIp(ip);
  if (/^(127\.|10\.|192\.168\.|169\.254\.)/.test(v)) return true;
  const m = /^172\.(\d+)\./.exec(v);
  if (m && Number(m[1]) >= 16 && Number(m[1]) <= 31) return true;
  return v === "::1" || /^f[cd][0-9a-f]{2}:/.test(v) || /^fe[89ab][0-9a-f]:/.test(v);
}

/**
 * The client's address for per-address limits, read synchronously during the upgrade (uWS forbids
 * touching the request after an await). The peer's own address, unless the peer is on a private
 * network (the load balancer), in which case X-Forwarded-For is read from the right, skipping the
 * private hops: the same rule as the API's `trustProxy`, so a client cannot pick its own address.
 */
export function clientIp(res: HttpResponse, req: HttpRequest): string {
  const peer = Buffer.from(res.getRemoteAddressAsText()).toString("utf8");
  if (!isPrivateIp(peer)) return normaliseIp(peer);
  const hops = req
    .getHeader("x-forwarded-for")
    .split(",")
    .map((h) => h.trim())
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) if (!isPrivateIp(hops[i]!)) return normaliseIp(hops[i]!);
  return normaliseIp(hops[0] ?? peer);
}
