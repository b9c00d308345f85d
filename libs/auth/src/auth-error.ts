/** Why a token was refused; HTTP maps every code to 401, the WebSocket nodes to `unauthorized`. */
export type AuthErrorCode = "invalid_token" | "token_expired" | "token_revoked";

/**
 * A token the caller presented cannot be trusted. Infrastructure failures (an identity provider's
 * key set that cannot be fetched) are not AuthErrors: they are the server's problem, not the client's.
 */
export class AuthError extends Error {
  override name = "AuthError";
  readonly code: AuthErrorCode;

  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
