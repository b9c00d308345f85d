import type { Config } from "@seatdrop/config";
import type { Db } from "@seatdrop/db";
import type { OrderJobs } from "@seatdrop/jobs";
import type { Logger } from "@seatdrop/observability";
import type { SeatService } from "@seatdrop/seats";

/** What every order operation needs; built once per process. */
export interface OrdersContext {
  db: Db;
  seats: SeatService;
  config: Config;
  logger: Logger;
  /** Producer of order expiry jobs (absent in the worker, which only consumes them). */
  jobs?: OrderJobs;
}
