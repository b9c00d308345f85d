export * from "./phoenix.ts";
export * from "./seed.ts";
export * from "./seat-events.ts";
export * from "./seat-frames.ts";
export * from "./topics.ts";
export * from "./close-codes.ts";
export * from "./chat-frames.ts";
