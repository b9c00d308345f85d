export * from "./definitions.ts";
export { HoldJobs } from "./queues.ts";
