import { metrics } from "@seatdrop/observability";
import type { Keys, Redis } from "@seatdrop/redis";
import { seatErrorFromCode } from "./errors.ts";
import { registerScripts, type ScriptCaller, type ScriptName } from "./scripts.ts";
import { decodeSeatTransitions } from "./script-results.ts";
import { TransitionBatcher, type Transition } from "./transition-batcher.ts";

/** The `op` label of the seat metrics: a script's name, or the transition a batch applied. */
export type SeatOpName = ScriptName | "lockSeat" | "unlockSeat" | "bestAvailable";

/**
 * How the seat service, the hold keeper and the event loader call the seat scripts (../lua): each
 * call timed and counted by outcome, a refusal (negative code) turned into a SeatError, an event
 * Redis does not have loaded from PostgreSQL once and the call made again, and locks and unlocks
 * group-committed per event (TransitionBatcher).
 */
export class SeatScripts {
  readonly call: ScriptCaller;
  private readonly batcher: TransitionBatcher;
  /** Loads an event Redis does not have (the event loader's loadFromDb); false when there is none. */
  loadMissing: (eventId: string) => Promise<boolean> = () => Promise.resolve(false);

  constructor(private readonly deps: { redis: Redis; keys: Keys; batchMax: number }) {
    this.call = registerScripts(deps.redis);
    this.batcher = new TransitionBatcher({ max: deps.batchMax, call: (eventId, batch) => this.callBatch(eventId, batch) });
  }

  /**
   * Runs a script for an event; a negative code becomes a SeatError. An unknown event is looked up
   * in PostgreSQL once (loadMissing) (Redis may have been flushed, or the event just created) before giving up.
   */
  async run(name: ScriptName, eventId: string, args: (string | number)[], checkCode = true): Promise<unknown> {
    const k = this.deps.keys.event(eventId);
    return this.counted(name, checkCode, async () => {
      let r = await this.call(name, k.script, args);
      if (checkCode && isErr(r) && r[0] === -1 && (await this.loadMissing(eventId))) r = await this.call(name, k.script, args);
      return r;
    });
  }

  /**
   * A lock or unlock, group-committed with the event's other transitions of this process
   * (TransitionBatcher, lua/seatTransitions-19.lua); counted under `lockSeat` / `unlockSeat` as when
   * each had a script of its own. An unknown event is looked up in PostgreSQL once, as in run().
   */
  transition(eventId: string, t: Transition): Promise<unknown> {
    return this.counted(OP_NAMES[t.op], true, async () => {
      let r = await this.batcher.submit(eventId, t);
      if (isErr(r) && r[0] === -1 && (await this.loadMissing(eventId))) r = await this.batcher.submit(eventId, t);
      return r;
    });
  }

  /** One call of seatTransitions for a batch: one reply per transition, checked here. */
  private async callBatch(eventId: string, batch: readonly Transition[]): Promise<unknown[]> {
    const k = this.deps.keys.event(eventId);
    const args: string[] = [];
    for (const t of batch) args.push(t.op, t.userId, t.seatId, t.origin);
    return decodeSeatTransitions(await this.call("seatTransitions", k.script, args), batch.length);
  }

  /** Times and counts a seat operation by outcome; a refusal (negative code) becomes a SeatError when `checkCode`. */
  private async counted(op: SeatOpName, checkCode: boolean, body: () => Promise<unknown>): Promise<unknown> {
    const started = performance.now();
    let r: unknown;
    try {
      r = await body();
    } catch (err) {
      metrics.seatOps.inc({ op, result: "error" }); // Redis (or PostgreSQL) failed: not a refusal
      throw err;
    }
    metrics.seatOpSeconds.observe({ op }, (performance.now() - started) / 1000);
    if (checkCode && isErr(r)) {
      const e = seatErrorFromCode(r[0], typeof r[1] === "string" ? r[1] : undefined, typeof r[2] === "number" ? r[2] : undefined);
      metrics.seatOps.inc({ op, result: e.reason });
      throw e;
    }
    metrics.seatOps.inc({ op, result: "ok" });
    return r;
  }
}

const OP_NAMES = { lock: "lockSeat", unlock: "unlockSeat", block: "bestAvailable" } as const;

export function isErr(r: unknown): r is [number, unknown?, unknown?] {
  return Array.isArray(r) && typeof r[0] === "number" && r[0] < 0;
}
