export { decodeHoldRecord, type HoldRecord } from "./script-results.ts";
export { SeatService, isUuid, naturalCompare, type SeatServiceDeps, type BackendAction } from "./seat-service.ts";
export { EventLoader, type SalesRules } from "./event-loader.ts";
export { HoldKeeper } from "./hold-keeper.ts";
export { SeatError, SeatErrorCode, seatErrorMessages, seatErrorFromCode, type SeatErrorReason } from "./errors.ts";
export { resolveHoldSettings, type HoldSettings } from "./settings.ts";
export { holdReleaseReasons, type SeatEvent, type SeatMessage, type SeatEventType, type Snapshot, type HoldView, type SeatStateName } from "./types.ts";
