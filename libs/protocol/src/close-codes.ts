/**
 * WebSocket close codes this cluster uses (documented in the README). 1000–1015 are the standard
 * ones; 4xxx are ours, modelled on HTTP statuses so they read at a glance.
 */
export const CloseCode = {
  /** Node draining for a deploy; reconnect through the load balancer. */
  goingAway: 1001,
  /**
   * A frame larger than WS_MAX_PAYLOAD: uWebSockets.js drops the connection itself without a close
   * frame, so the client reports 1006 (abnormal closure). Listed for the README; never sent by us.
   */
  tooBig: 1006,
  /** The `seed` dialect (the legacy seat dialect): the connection could not be set up or resynchronised (Redis or PostgreSQL failed; logged); reconnect. */
  internalError: 1011,
  /** A frame that is not a Phoenix frame at all (not JSON, not an array of five). */
  malformedFrame: 4400,
  /** The connection's token was revoked (signed out): connect again with a new one. */
  tokenRevoked: 4401,
  /** The legacy seat dialect: the event named in `?event=` does not exist. */
  unknownEvent: 4404,
  /** The send buffer passed WS_MAX_BACKPRESSURE: a slow consumer; rejoin with `last_seq`. */
  slowConsumer: 4408,
  /** Kept flooding after being told `rate_limited`. */
  rateLimited: 4429,
} as const;

/**
 * Consecutive rate-limited frames after which a socket is closed with {@link CloseCode.rateLimited}
 * instead of answered: a client that ignores 200 `rate_limited` replies in a row is not listening.
 */
export const MAX_REFUSED_IN_A_ROW = 200;
