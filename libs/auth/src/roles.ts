/** The roles a token can carry. `service` is for backend callers such as the worker. */
export const ROLES = ["user", "admin", "service"] as const;

/** One of {@link ROLES}. */
export type Role = (typeof ROLES)[number];

/** Narrows an unknown claim value to a {@link Role}. */
export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}
