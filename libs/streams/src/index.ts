export { type StreamPosition, continues } from "./position.ts";
export { SequencedFeed, type FeedMessage } from "./sequenced-feed.ts";
export { readSequencedRange, seqOfEntry, entryFields, type LogEntry } from "./log-range.ts";
export { decodeBus, BusDecodeError } from "./decode.ts";
export { PresenceSet, type PresenceEntry } from "./presence.ts";
