import type { SessionMirror, SessionStore } from "@seatdrop/auth";
import type { Logger } from "@seatdrop/observability";
import { CloseCode } from "@seatdrop/protocol";
import type { Keys } from "@seatdrop/redis";
import { endConn, type Conn } from "./conn.ts";
import type { Subscriber } from "./fanout/subscriber.ts";
import type { LocalRegistry } from "./registry.ts";

/** How often the node looks for sockets whose token expired. */
const EXPIRY_SWEEP_MS = 1000;
/** Sockets re-checked at once after the subscriber reconnects. */
const RECHECK_BATCH = 200;

/**
 * Ends the sockets whose session ended (docs/reliability.md, round one, findings 3 and 11), with
 * 4401 and a reason:
 * - the token expired (`token_expired`): a sweep every second, so an open socket no longer keeps
 *   locking on a token whose `exp` passed;
 * - a sign-out, password change or account deletion (`token_revoked`), announced on the
 *   `revokedTokens` channel as a jti or `user:<id>`;
 * - and, because pub/sub is at-most-once, every socket is re-checked against the SessionStore
 *   (PostgreSQL, cached in Redis) whenever the subscriber connection comes back, so a revocation
 *   published while it was away is not missed.
 *
 * It also keeps the node's SessionMirror (the upgrade refuses revoked tokens from memory)
 * current: every message of the channel goes to it, it is marked stale when the subscriber
 * connection drops (the upgrade then asks the record) and reloaded when it is back. And it re-checks
 * each socket the mirror let in against the record once it is open (`recheckOpened`).
 */
export class SessionGuard {
  private timer: NodeJS.Timeout | null = null;
  private connectedOnce = false;

  constructor(
    private readonly o: { registry: LocalRegistry; sessions: SessionStore; mirror: SessionMirror; subscriber: Subscriber; keys: Keys; logger: Logger },
  ) {}

  /** Subscribes, then loads the mirror (after, so nothing published in between is missed). */
  async start(): Promise<void> {
    const { subscriber, keys, mirror } = this.o;
    subscriber.onReconnect(() => {
      // ioredis resubscribes on reconnect; what was published meanwhile is lost, so ask the record.
      if (this.connectedOnce) {
        void mirror.load();
        void this.recheckAll().catch((err: unknown) => this.o.logger.warn({ err }, "session re-check after reconnect failed"));
      }
      this.connectedOnce = true;
    });
    // Marked stale at once, so no upgrade is admitted from a mirror that may miss a revocation.
    subscriber.connection.on("close", () => mirror.markStale());
    if (subscriber.status === "ready") this.connectedOnce = true;
    await subscriber.subscribe(keys.revokedTokens, (message) => {
      mirror.onMessage(message);
      if (message.startsWith("user:")) this.closeWhere((c) => c.userId === message.slice(5), "token_revoked: the account's sessions ended; sign in again");
      else this.closeWhere((c) => c.jti === message, "token_revoked: sign in again");
    });
    mirror.start();
    await mirror.load();
    this.timer = setInterval(() => this.closeExpired(), EXPIRY_SWEEP_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.o.mirror.stop();
  }

  /**
   * The safety net of the synchronous upgrade: a socket admitted on the mirror's word is checked
   * against the record (`SessionStore.isEnded`, the check the asynchronous upgrade makes) once it
   * is open, and closed with 4401 if the mirror missed a revocation (which the mirror then learns).
   * The record unreachable: the mirror's answer stands (logged).
   */
  recheckOpened(c: Conn): void {
    if (c.jti === null || c.userId === null) return;
    this.o.sessions.isEnded({ jti: c.jti, userId: c.userId, issuedAtMs: c.tokenIssuedAtMs }, { localUser: c.tokenLocal }).then(
      (ended) => {
        if (!ended) return;
        this.o.mirror.learnEnded({ jti: c.jti!, exp: c.tokenExp ?? 0 });
        this.o.logger.warn({ userId: c.userId, jti: c.jti }, "session mirror let in a socket whose session had ended; closed");
        if (!c.closed) endConn(c, CloseCode.tokenRevoked, "token_revoked: sign in again");
      },
      (err: unknown) => this.o.logger.warn({ err }, "session re-check after open failed"),
    );
  }

  /** Closes the sockets whose token expired. */
  closeExpired(nowS = Date.now() / 1000): void {
    this.closeWhere((c) => c.tokenExp !== null && c.tokenExp <= nowS, "token_expired: sign in again");
  }

  /** Re-checks every authenticated socket against the session record; closes those that ended. */
  async recheckAll(): Promise<void> {
    const conns = [...this.o.registry.conns.values()].filter((c) => c.jti !== null && !c.closed);
    for (let i = 0; i < conns.length; i += RECHECK_BATCH) {
      await Promise.all(
        conns.slice(i, i + RECHECK_BATCH).map(async (c) => {
          const ended = await this.o.sessions.isEnded({ jti: c.jti!, userId: c.userId!, issuedAtMs: c.tokenIssuedAtMs }, { localUser: c.tokenLocal });
          if (ended) endConn(c, CloseCode.tokenRevoked, "token_revoked: sign in again");
        }),
      );
    }
  }

  private closeWhere(pred: (c: Conn) => boolean, reason: string): void {
    for (const c of this.o.registry.conns.values()) if (!c.closed && pred(c)) endConn(c, CloseCode.tokenRevoked, reason);
  }
}
