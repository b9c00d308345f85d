export { WaitingRooms, type WaitingRoomsDeps, type RoomInfo, type RoomStatus, type JoinOutcome, type Positions, type UserPosition, type TickOutcome, type QueueState } from "./waiting-rooms.ts";
export { commitmentOf, drawKey, drawOrder, newRoomSecrets } from "./draw.ts";
export { PassSigner } from "./pass.ts";
export { checkPow, leadingZeroBits, powDigest, solvePow, POW_NONCE_MAX } from "./pow.ts";
export type { RoomPhase } from "./room-scripts.ts";
