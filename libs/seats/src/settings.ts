import type { Config } from "@seatdrop/config";

/** Per-event hold settings, stored on the event row and mirrored in the event's Redis meta hash. */
export interface HoldSettings {
  holdTtlMs: number;
  holdMaxSeats: number;
  holdGraceMs: number;
  holdMaxExtensions: number;
}

/** An event row's own settings where set, the cluster defaults elsewhere. */
export function resolveHoldSettings(
  row: { holdTtlMs?: number | null; holdMaxSeats?: number | null; holdGraceMs?: number | null; holdMaxExtensions?: number | null },
  config: Pick<Config, "HOLD_TTL_MS" | "HOLD_MAX_SEATS" | "HOLD_GRACE_MS" | "HOLD_MAX_EXTENSIONS">,
): HoldSettings {
  return {
    holdTtlMs: row.holdTtlMs ?? config.HOLD_TTL_MS,
    holdMaxSeats: row.holdMaxSeats ?? config.HOLD_MAX_SEATS,
    holdGraceMs: row.holdGraceMs ?? config.HOLD_GRACE_MS,
    holdMaxExtensions: row.holdMaxExtensions ?? config.HOLD_MAX_EXTENSIONS,
  };
}
