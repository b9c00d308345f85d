import { Type, type Static } from "typebox";
import { MAX_PASSWORD_LENGTH, ROLES, type Role } from "@seatdrop/auth";

/** Usernames show in chat rooms and URLs, so they stay short and plain. */
export const Username = Type.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$", minLength: 1, maxLength: 64, examples: ["sample_user"] });
export const Email = Type.String({ format: "email", maxLength: 320, examples: ["sample@email.com"] });
/**
 * The chat service's API calls the field `password_hash`, but it is the plaintext password: the server hashes it
 * with scrypt. A hash computed on the client would itself be the secret.
 */
export const NewPassword = Type.String({
  minLength: 8,
  maxLength: MAX_PASSWORD_LENGTH,
  description: "the plaintext password (the chat service's API names it password_hash); hashed server-side",
  examples: ["hashed+password"],
});

export const SignUpBody = Type.Object({
  user_params: Type.Object({ username: Username, email: Email, password_hash: NewPassword }),
});
export type SignUpBody = Static<typeof SignUpBody>;

export const SignInBody = Type.Object({
  email: Type.String({ minLength: 1, maxLength: 320, examples: ["sample@email.com"] }),
  password_hash: Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH, description: "the plaintext password", examples: ["hashed+password"] }),
});
export type SignInBody = Static<typeof SignInBody>;

export const UserView = Type.Object({
  id: Type.String({ format: "uuid" }),
  username: Type.String(),
  email: Type.String(),
  role: Type.Unsafe<Role>({ type: "string", enum: [...ROLES] }),
});
export type UserView = Static<typeof UserView>;

export const SessionResponse = Type.Object({
  user: UserView,
  token: Type.String({ description: "HS256 JWT for `Authorization: Bearer` and the WebSocket `token` param" }),
});
export type SessionResponse = Static<typeof SessionResponse>;

export const UserResponse = Type.Object({
  user: UserView,
  token: Type.Optional(Type.String({ description: "a fresh token, after you changed your own password (the old ones are refused)" })),
});
export type UserResponse = Static<typeof UserResponse>;

/** The chat service's update: the user's id beside the fields to change (at least one). */
export const UpdateUserBody = Type.Object({
  id: Type.String({ format: "uuid" }),
  user_params: Type.Object(
    { username: Type.Optional(Username), email: Type.Optional(Email), password_hash: Type.Optional(NewPassword) },
    { minProperties: 1 },
  ),
});
export type UpdateUserBody = Static<typeof UpdateUserBody>;
