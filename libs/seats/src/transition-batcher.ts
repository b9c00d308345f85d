import { metrics } from "@seatdrop/observability";

/** One lock, unlock or best-available block a buyer asked for, as seatTransitions-19.lua takes it. */
export interface Transition {
  op: "lock" | "unlock" | "block";
  userId: string;
  /** The seat; for `block`, the ranked candidate blocks (lockBlock in lua/includes/transitions.lua). */
  seatId: string;
  /** `<nodeId>:<connId>` of the asking connection (author exclusion in fan-out), or "". */
  origin: string;
}

interface Pending {
  t: Transition;
  resolve: (reply: unknown) => void;
  reject: (err: unknown) => void;
}

interface EventQueue {
  queue: Pending[];
  busy: boolean;
}

/** Sends one batch of one event as one script call; resolves to one raw reply per transition, in order. */
export type BatchCall = (eventId: string, batch: readonly Transition[]) => Promise<unknown[]>;

/**
 * Group commit of one process's seat transitions, per event, as the chat pipeline does
 * for messages (libs/chat/src/message-pipeline.ts).
 *
 * Every transition of an event runs on one Redis core, so that core's time per transition bounds
 * the event's lock rate whatever the number of nodes (docs/capacity.md). A script call has a fixed
 * cost (parsing the call, entering Lua, reading the event's settings, numbering, one PUBLISH) that a
 * batch pays once. So while one call for an event is in flight, the event's next transitions wait,
 * and the next call carries all of them (at most `max`), applied in arrival order. Nothing waits on
 * a timer: a transition that finds no call in flight goes out at once, a batch of one. One call per
 * event at a time also keeps each connection's transitions in the order it sent them.
 */
export class TransitionBatcher {
  private readonly events = new Map<string, EventQueue>();

  constructor(private readonly o: { call: BatchCall; max: number }) {}

  /** Resolves to the transition's own reply (a success or a refusal), or rejects when its batch's call failed. */
  submit(eventId: string, t: Transition): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let e = this.events.get(eventId);
      if (!e) {
        e = { queue: [], busy: false };
        this.events.set(eventId, e);
      }
      e.queue.push({ t, resolve, reject });
      if (!e.busy) void this.flush(eventId, e);
    });
  }

  private async flush(eventId: string, e: EventQueue): Promise<void> {
    e.busy = true;
    try {
      while (e.queue.length > 0) {
        const group = e.queue.length <= this.o.max ? e.queue.splice(0) : e.queue.splice(0, this.o.max);
        metrics.seatBatchSize.observe(group.length);
        let replies: unknown[];
        try {
          replies = await this.o.call(
            eventId,
            group.map((p) => p.t),
          );
        } catch (err) {
          // Redis failed or the reply was not one per transition: the call as a whole is unknown
          // (applied entirely or not at all, never half), and every transition in it says so.
          for (const p of group) p.reject(err);
          continue;
        }
        for (let i = 0; i < group.length; i++) group[i]!.resolve(replies[i]);
      }
    } finally {
      e.busy = false;
      if (e.queue.length === 0) this.events.delete(eventId);
    }
  }
}
