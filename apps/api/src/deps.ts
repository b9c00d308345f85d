import type { Config } from "@seatdrop/config";
import type { DbHandle } from "@seatdrop/db";
import type { Logger } from "@seatdrop/observability";
import type { Keys, Redis } from "@seatdrop/redis";

/** Everything the API needs from outside, passed in so tests build the app against their own database and prefix. */
export interface ApiDeps {
  config: Config;
  db: DbHandle;
  redis: Redis;
  keys: Keys;
  logger: Logger;
  /** Called after an event and its seats are committed, e.g. to load its seat map into Redis. */
  onEventSaved?: (eventId: string) => Promise<void>;
}
