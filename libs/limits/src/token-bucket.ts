/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up. One per socket, taken by every
 * frame the socket sends (docs/reliability.md, round one, finding 2): a socket lives on one node,
 * so its count needs no Redis.
 */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Charges `n` more tokens for work already done (a large join reply: docs/reliability.md, round
   * two, finding 3): the bucket may go below zero, so the socket's next frames wait until it has
   * paid the debt back.
   */
  charge(n: number): void {
    if (n <= 0) return;
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate) - n;
    this.last = now;
  }

  /** How long until the next token (after a refused `take`), in whole milliseconds, at least 1. */
  retryAfterMs(): number {
    return Math.max(1, Math.ceil(((1 - this.tokens) / this.rate) * 1000));
  }
}
