import type { HttpRequest, HttpResponse, us_socket_context_t } from "uWebSockets.js";
import { AuthError, RateLimitedError, type AttemptLimits, type TokenVerifier } from "@seatdrop/auth";
import type { Logger } from "@seatdrop/observability";
import { clientIp } from "./client-ip.ts";
import { newConn, type Conn, type UserData } from "./conn.ts";

const BEARER_PREFIX = "base64url.bearer.phx.";

/** The token a client offered: `?token=` or, from the stock client's `authToken`, the bearer subprotocol. */
export function tokenFrom(query: string | undefined, protocols: string[]): string | undefined {
  if (query) return query;
  const p = protocols.find((x) => x.startsWith(BEARER_PREFIX));
  if (!p) return undefined;
  // "base64url" in name only: the Phoenix client encodes with standard base64, padding removed.
  const b64 = p.slice(BEARER_PREFIX.length).replace(/-/g, "+").replace(/_/g, "/");
  return Buffer.from(b64, "base64").toString("utf8");
}

/** The subprotocol to echo: `phoenix` when offered, never the one carrying the token. */
export function protocolToEcho(protocols: string[]): string {
  if (protocols.includes("phoenix")) return "phoenix";
  return protocols.find((p) => !p.startsWith(BEARER_PREFIX)) ?? "";
}

/** What a socket keeps of its verified token. */
type Admitted = { userId: string; role: string; jti: string; exp: number; issuedAtMs: number; local: boolean };

export interface UpgradeOptions {
  nodeId: string;
  dialect: Conn["dialect"];
  verifier: TokenVerifier;
  logger: Logger;
  rate: number;
  burst: number;
  maxBuffered: number;
  replyStallMs: number;
  isDraining: () => boolean;
  /** Cluster-wide connect limits per address and per user (issue 8); absent: none. */
  limits?: AttemptLimits;
  /** Per-dialect checks on the query string (the seed's `?event=`); a string refuses with 400. */
  prepare?: (conn: Conn, query: (key: string) => string | undefined) => string | undefined;
}

/**
 * Verifies the token before accepting the socket. The upgrade is asynchronous, so (uWS rules)
 * `onAborted` is registered first, every header is copied synchronously, nothing touches `res` after
 * an abort, and the upgrade after the await is NOT wrapped in `cork` (see `accept`). A missing token makes an anonymous watcher; a bad one is refused
 * with 401 and a JSON body naming the reason.
 */
export function handleUpgrade(o: UpgradeOptions) {
  return (res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const key = req.getHeader("sec-websocket-key");
    const protocols = req
      .getHeader("sec-websocket-protocol")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    const extensions = req.getHeader("sec-websocket-extensions");
    const params = new URLSearchParams(req.getQuery() ?? "");
    const query = (k: string) => params.get(k) ?? undefined;
    const ip = clientIp(res, req);
    const refuse = (status: string, error: string, message: string, extra: { retry_after_ms?: number } = {}) => {
      if (aborted) return;
      res.cork(() => {
        res.writeStatus(status).writeHeader("content-type", "application/json");
        if (extra.retry_after_ms !== undefined) res.writeHeader("retry-after", String(Math.ceil(extra.retry_after_ms / 1000)));
        res.end(JSON.stringify({ error, message, ...extra }));
      });
    };
    if (o.isDraining()) return refuse("503 Service Unavailable", "draining", "this node is shutting down; reconnect");
    const vsn = query("vsn");
    if (o.dialect === "phx" && vsn !== undefined && vsn !== "2.0.0")
      return refuse("400 Bad Request", "unsupported_vsn", `vsn ${vsn} is not supported; use the V2 JSON serializer (vsn=2.0.0)`);
    const token = tokenFrom(query("token"), protocols);

    const accept = (user: Admitted | null) => {
      if (aborted) return;
      const conn = newConn(o.nodeId, o.dialect, user, { rate: o.rate, burst: o.burst, maxBuffered: o.maxBuffered, replyStallMs: o.replyStallMs, ip });
      const bad = o.prepare?.(conn, query);
      if (bad) return refuse("400 Bad Request", "bad_request", bad);
      // No `res.cork` around the upgrade (issue 11): after an await, uWebSockets' HttpResponse::cork
      // can mistake the upgraded socket's memory for HTTP state once `upgrade` reallocates it in
      // place, and close the new WebSocket right after `open` (1006, no frame; fixed upstream in
      // uWebSockets PR #1929, not in this build). Its maintainers' advice (uWebSockets #1583): do not
      // cork when upgrading from this state. `upgrade` corks the new socket itself; the synchronous
      // path is corked by uWS already.
      res.upgrade<UserData>({ conn }, key, protocolToEcho(protocols), extensions, context);
    };
    // Connects count per address and per user across the cluster, after the token (a bad token is
    // refused for free) and before the socket exists.
    const admit = async (user: Admitted | null) => {
      await o.limits?.consume("connect", { ip, user: user?.userId ?? null });
      accept(user);
    };
    const refused = (err: unknown) => {
      if (err instanceof RateLimitedError)
        return refuse("429 Too Many Requests", "rate_limited", "too many connections; retry later", { retry_after_ms: err.retryAfterMs });
      if (err instanceof AuthError) return refuse("401 Unauthorized", err.code, err.message);
      o.logger.error({ err }, "token verification failed");
      refuse("503 Service Unavailable", "auth_unavailable", "could not verify the token; retry");
    };
    // An anonymous watcher no limit applies to (a loopback health check, a local tool) is accepted
    // in the same tick, as before limits existed.
    if (!token) return o.limits?.applies("connect", { ip }) ? void admit(null).catch(refused) : accept(null);
    o.verifier.verify(token).then(
      (t) => admit({ userId: t.userId, role: t.role, jti: t.jti, exp: t.exp, issuedAtMs: t.issuedAtMs, local: t.local }),
      refused,
    ).catch(refused);
  };
}
