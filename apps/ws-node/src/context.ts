import type { TemplatedApp } from "uWebSockets.js";
import type { AttemptLimits } from "@seatdrop/limits";
import type { Config } from "@seatdrop/config";
import type { Logger } from "@seatdrop/observability";
import type { WaitingRooms } from "@seatdrop/queue";
import type { SeatService } from "@seatdrop/seats";
import type { ChatNode } from "./chat/chat-node.ts";
import type { EventFeeds } from "./fanout/event-feed.ts";
import type { SeatChanges } from "./fanout/seat-changes.ts";
import type { SeatFanout } from "./fanout/seat-fanout.ts";
import type { QueueNode } from "./queue/queue-node.ts";
import type { LocalRegistry } from "./registry.ts";

/** The long-lived parts of one ws-node, passed to every handler. */
export interface NodeContext {
  config: Config;
  nodeId: string;
  logger: Logger;
  app: TemplatedApp;
  seats: SeatService;
  feeds: EventFeeds;
  registry: LocalRegistry;
  fanout: SeatFanout;
  /** Coalesced `changes` streams. */
  changes: SeatChanges;
  /** Chat rooms, user channels and presence. */
  chat: ChatNode;
  /** Cluster-wide attempt limits (connects, ticket claims), counted in Redis. */
  limits: AttemptLimits;
  /** Waiting rooms: the shared service (scripts, passes) and this node's waiters. */
  rooms: WaitingRooms;
  queue: QueueNode;
}
