export { AttemptLimits, RateLimitedError, normaliseIp, ATTEMPT_KINDS, type AttemptKind, type LimitSubject } from "./attempt-limits.ts";
export { SyncedLimits } from "./synced-limits.ts";
export { TokenBucket } from "./token-bucket.ts";
