export * from "./definitions.ts";
export { HoldJobs, OrderJobs } from "./queues.ts";
export * from "./chat-definitions.ts";
export { RoomJobs } from "./room-jobs.ts";
