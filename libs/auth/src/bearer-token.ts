/**
 * Extracts the token from an `Authorization: Bearer <token>` header value. Returns null when the
 * header is absent or uses another scheme, so callers can tell "no token" (401 unauthorized) from
 * "a bad token" (401 invalid_token).
 */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1] ?? null;
}
