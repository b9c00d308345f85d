import type { Config } from "@seatdrop/config";
import type { DbHandle } from "@seatdrop/db";
import type { Logger } from "@seatdrop/observability";
import type { Keys, Redis } from "@seatdrop/redis";
import type { OrderJobs } from "@seatdrop/jobs";
import type { SeatService } from "@seatdrop/seats";

/** Everything the API needs from outside, passed in so tests build the app against their own database and prefix. */
export interface ApiDeps {
  config: Config;
  db: DbHandle;
  redis: Redis;
  keys: Keys;
  logger: Logger;
  /** The seat service (orders move seats through it); built from the other deps when absent. */
  seats?: SeatService;
  /** Producer of order expiry and seat-rebuild jobs; without it only the worker's sweep expires orders. */
  orderJobs?: OrderJobs;
}
