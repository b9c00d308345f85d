/**
 * Why a chat action was refused. Clients see the reason as `{"reason": …, "message": …}` (with
 * `field` when one part of the request was wrong); the README lists them all.
 */
export const CHAT_ERROR_REASONS = [
  "unauthorized",
  "unknown_event",
  "invalid_ticket",
  "ticket_claimed",
  "ticket_void",
  "chat_inactive",
  "rate_limited",
  "malformed_payload",
  "empty_content",
  "content_too_long",
  "invalid_content",
] as const;
export type ChatErrorReason = (typeof CHAT_ERROR_REASONS)[number];

/** A refusal with a reason a client can act on; anything else is an outage or a bug. */
export class ChatError extends Error {
  override name = "ChatError";
  constructor(
    readonly reason: ChatErrorReason,
    message: string,
    readonly extra: { field?: string; max?: number; retry_after_ms?: number; slow_mode?: boolean } = {},
  ) {
    super(message);
  }

  /** The error reply's `response`. */
  toResponse(): Record<string, unknown> {
    return { reason: this.reason, message: this.message, ...this.extra };
  }
}
