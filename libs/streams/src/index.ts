export { type StreamPosition, continues } from "./position.ts";
export { SequencedFeed, type FeedMessage } from "./sequenced-feed.ts";
export { readSequencedRange, seqOfEntry, entryFields, type LogEntry } from "./log-range.ts";
export { decodeBus, BusDecodeError, type BusSchema, type Decoded } from "./decode.ts";
export { PresenceSet, type PresenceEntry } from "./presence.ts";
