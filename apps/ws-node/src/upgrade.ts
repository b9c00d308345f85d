import type { HttpRequest, HttpResponse, us_socket_context_t } from "uWebSockets.js";
import { AuthError, sessionEnded, type MirrorAnswer, type TokenVerifier, type VerifiedToken } from "@seatdrop/auth";
import { type RateLimitedError } from "@seatdrop/limits";
import type { Logger } from "@seatdrop/observability";
import { clientIp, type TrustProxy } from "./client-ip.ts";
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
  /** The node's copy of the session record (SessionMirror): a revoked token is refused without a round trip. */
  sessions: { check(t: VerifiedToken): MirrorAnswer };
  /**
   * Called with each socket whose session only the mirror vouched for, once it is open: the full
   * check against the record runs then (SessionGuard.recheckOpened), and closes it with 4401 if the
   * mirror missed a revocation.
   */
  opened?: (conn: Conn) => void;
  logger: Logger;
  rate: number;
  burst: number;
  maxBuffered: number;
  replyStallMs: number;
  isDraining: () => boolean;
  /** TRUSTED_PROXIES, compiled: whose X-Forwarded-For names the client (client-ip.ts). */
  trustProxy: TrustProxy;
  /** Cluster-wide connect limits per address and per user, decided from memory (SyncedLimits); absent: none. */
  limits?: { take(who: { ip?: string | null; user?: string | null }): RateLimitedError | null };
  /** Per-dialect checks on the query string (the legacy seat dialect's `?event=`); a string refuses with 400. */
  prepare?: (conn: Conn, query: (key: string) => string | undefined) => string | undefined;
}

/**
 * Verifies the token before accepting the socket. A missing token makes an anonymous watcher; a bad
 * one is refused with 401 and a JSON body naming the reason; past a connect limit, 429.
 *
 * Synchronous without a token and for the cluster's own HS256 tokens: the token is checked
 * with `verifySync`, its session against the node's SessionMirror, the connect limits from memory
 * (SyncedLimits), so `res.upgrade` runs inside this handler, which uWS corks.
 * Our uWS build prints "writes must be made from within a corked callback" for every upgrade made
 * after an await, and corking such an upgrade closes the socket (see `accept`); the synchronous path
 * has neither problem and no round trip. The full session check against the record still runs once
 * the socket is open (`opened`), as a safety net.
 *
 * Asynchronous, as before, only for an identity provider's RS256/ES256 token (jose and the provider's
 * key set) and for a token the mirror cannot vouch for (stale after a subscriber reconnect, a user
 * whose record is being read, a token living longer than JWT_TTL_SECONDS): then `onAborted` is
 * registered first, every header was copied synchronously, nothing touches `res` after an abort,
 * and the upgrade after the await is NOT wrapped in `cork` (see `accept`), so these connects still
 * print uWS's warning line.
 */
export function handleUpgrade(o: UpgradeOptions) {
  return (res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void => {
    let aborted = false;
    const key = req.getHeader("sec-websocket-key");
    const protocols = req
      .getHeader("sec-websocket-protocol")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    const extensions = req.getHeader("sec-websocket-extensions");
    const params = new URLSearchParams(req.getQuery() ?? "");
    const query = (k: string) => params.get(k) ?? undefined;
    const ip = clientIp(res, req, o.trustProxy);
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

    const accept = (user: Admitted | null, recheck: boolean) => {
      if (aborted) return;
      const conn = newConn(o.nodeId, o.dialect, user, { rate: o.rate, burst: o.burst, maxBuffered: o.maxBuffered, replyStallMs: o.replyStallMs, ip });
      const bad = o.prepare?.(conn, query);
      if (bad) return refuse("400 Bad Request", "bad_request", bad);
      // No `res.cork` around the upgrade: after an await, uWebSockets' HttpResponse::cork
      // can mistake the upgraded socket's memory for HTTP state once `upgrade` reallocates it in
      // place, and close the new WebSocket right after `open` (1006, no frame; fixed upstream in
      // uWebSockets PR #1929, not in this build). Its maintainers' advice (uWebSockets #1583): do not
      // cork when upgrading from this state. `upgrade` corks the new socket itself; the synchronous
      // path is corked by uWS already.
      res.upgrade<UserData>({ conn }, key, protocolToEcho(protocols), extensions, context);
      if (recheck) o.opened?.(conn);
    };
    // Connects count per address and per user across the cluster, after the token (a bad token is
    // refused for free) and before the socket exists.
    const admit = (user: Admitted | null, recheck: boolean) => {
      const limited = o.limits?.take({ ip, user: user?.userId ?? null });
      if (limited) return refuse("429 Too Many Requests", "rate_limited", "too many connections; retry later", { retry_after_ms: limited.retryAfterMs });
      accept(user, recheck);
    };
    const refused = (err: unknown) => {
      if (err instanceof AuthError) return refuse("401 Unauthorized", err.code, err.message);
      o.logger.error({ err }, "token verification failed");
      refuse("503 Service Unavailable", "auth_unavailable", "could not verify the token; retry");
    };
    const admitted = (t: VerifiedToken): Admitted => ({ userId: t.userId, role: t.role, jti: t.jti, exp: t.exp, issuedAtMs: t.issuedAtMs, local: t.local });

    if (!token) return admit(null, false);
    let verified: VerifiedToken | null;
    try {
      verified = o.verifier.verifySync(token);
    } catch (err) {
      return refused(err);
    }
    if (verified) {
      const ended = o.sessions.check(verified);
      if (ended === "token_revoked") return refused(sessionEnded(ended));
      if (ended === null) return admit(admitted(verified), true);
    }
    // The asynchronous path: a provider's token, or one the mirror cannot vouch for (see above).
    res.onAborted(() => {
      aborted = true;
    });
    o.verifier.verify(token).then((t) => admit(admitted(t), false), refused).catch(refused);
  };
}
