export { hashPassword, verifyPassword, needsRehash, DEFAULT_SCRYPT_PARAMS, MAX_PASSWORD_LENGTH, type ScryptParams } from "./password.ts";
export { createTokenSigner, type TokenSigner, type TokenSignerConfig, type TokenSubject } from "./token-signer.ts";
export {
  createTokenVerifier,
  providerUserId,
  sessionEnded,
  type TokenVerifier,
  type TokenVerifierConfig,
  type TokenVerifierOptions,
  type VerifiedToken,
} from "./token-verifier.ts";
export { AuthError, type AuthErrorCode } from "./auth-error.ts";
export { ROLES, isRole, type Role } from "./roles.ts";
export { bearerToken } from "./bearer-token.ts";
export { SessionStore, type SessionToken } from "./sessions.ts";
export { SessionMirror, type MirrorAnswer } from "./session-mirror.ts";
