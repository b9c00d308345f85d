import { ChatBus, type RoomLifecycleDeps } from "@seatdrop/chat";
import type { Config } from "@seatdrop/config";
import type { Db } from "@seatdrop/db";
import { ROOMS_QUEUE, RoomJobs, roomActivateJob, roomCloseJob, roomReconcileJob } from "@seatdrop/jobs";
import type { Logger } from "@seatdrop/observability";
import type { Keys, Redis } from "@seatdrop/redis";
import { startQueueWorker } from "../queue-worker.ts";
import { handleRoomActivate, handleRoomClose } from "./room-activate.ts";
import { handleRoomReconcile, scheduleAllRooms } from "./room-reconcile.ts";

export interface RoomWorker {
  isRunning(): boolean;
  close(): Promise<void>;
}

/**
 * The chat room lifecycle on the worker: activation and close jobs, the reconcile
 * scheduler, and at start the jobs of every current room (re)scheduled and overdue rooms put right.
 */
export async function startRoomWorker(o: { config: Config; logger: Logger; db: Db; redis: Redis; bull: Redis; keys: Keys }): Promise<RoomWorker> {
  const logger = o.logger.child({ module: "room-worker" });
  const deps: RoomLifecycleDeps = { db: o.db, bus: new ChatBus(o.redis, o.keys), logger, activateBeforeMs: o.config.CHAT_ACTIVATE_BEFORE_MS };
  const jobs = new RoomJobs(o.redis, o.keys.bullPrefix);
  const worker = startQueueWorker(
    ROOMS_QUEUE,
    {
      [roomActivateJob.name]: (job) => handleRoomActivate(deps, job),
      [roomCloseJob.name]: (job) => handleRoomClose(deps, job),
      [roomReconcileJob.name]: () => handleRoomReconcile(deps),
    },
    { connection: o.bull, prefix: o.keys.bullPrefix, concurrency: 8, logger },
  );

  // The reconcile Job Scheduler is kept by the worker's SchedulerKeeper (re-created when Redis loses it).
  // Jobs lost while nothing ran (a Redis flush) come back; rooms that missed their time are fixed now.
  await scheduleAllRooms(deps, jobs).catch((err: unknown) => logger.error({ err }, "scheduling rooms at start failed"));
  await handleRoomReconcile(deps).catch((err: unknown) => logger.error({ err }, "room reconcile at start failed"));
  await worker.waitUntilReady();
  return {
    isRunning: () => worker.isRunning(),
    async close() {
      await worker.close();
      await jobs.close();
    },
  };
}
