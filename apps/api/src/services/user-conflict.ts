import { uniqueViolation } from "@seatdrop/db";
import { conflict } from "../errors.ts";

/**
 * A user write that hit the unique email or username: the 409 naming the field. Anything else is
 * returned as is, for the caller to rethrow.
 */
export function userConflict(err: unknown): unknown {
  const constraint = uniqueViolation(err);
  if (constraint === "users_email_key") return conflict("email", "email has already been taken");
  if (constraint === "users_username_key") return conflict("username", "username has already been taken");
  return err;
}
