import { fileURLToPath } from "node:url";
import type { Redis } from "@seatdrop/redis";
import { registerLuaScripts, type Keys } from "@seatdrop/redis";

const luaDir = fileURLToPath(new URL("../lua/", import.meta.url));

/** The waiting-room scripts (../lua), by camelName. */
export type RoomScriptName = "queueJoin" | "queuePositions" | "queueRestore" | "queueTick" | "queueDraw" | "queueLoad";

/** A room's phase as the scripts tell it (see lua/includes/roomLib.lua). */
export type RoomPhase = "not_open" | "pre_queue" | "draw_due" | "running" | "sold_out" | "closed";
const PHASES = new Set<string>(["not_open", "pre_queue", "draw_due", "running", "sold_out", "closed"]);

/** A script replied with something its decoder does not accept: a bug, never a client's input. */
export class RoomScriptReplyError extends Error {
  override name = "RoomScriptReplyError";
  constructor(script: RoomScriptName, detail: string) {
    super(`${script}: unexpected reply: ${detail}`);
  }
}

/**
 * Every room script takes the same thirteen keys, all declared (lua/includes/roomLib.lua names them
 * in this order): the room's own, then the event's seat keys the tick reads for inventory.
 */
export function roomScriptKeys(keys: Keys, eventId: string): string[] {
  const r = keys.room(eventId);
  const e = keys.event(eventId);
  return [r.meta, r.pre, r.late, r.queue, r.admitted, r.seen, r.lease, e.seatmap, e.state, e.holds, e.ordered, r.drawQueue, e.holdInfo];
}

export type RoomCaller = (name: RoomScriptName, eventId: string, args: (string | number)[]) => Promise<unknown[]>;

export function registerRoomScripts(redis: Redis, keys: Keys): RoomCaller {
  const call = registerLuaScripts<RoomScriptName>(redis, luaDir, "room");
  return async (name, eventId, args) => {
    const reply = await call(name, roomScriptKeys(keys, eventId), args);
    if (!Array.isArray(reply) || reply.length === 0) throw new RoomScriptReplyError(name, JSON.stringify(reply));
    return reply as unknown[];
  };
}

/** Reads a reply's fields by position, naming the field when one has the wrong type. */
export class ReplyReader {
  constructor(
    private readonly script: RoomScriptName,
    readonly reply: unknown[],
  ) {}

  int(at: number, field: string): number {
    const v = this.reply[at];
    if (typeof v === "number" && Number.isInteger(v)) return v;
    throw new RoomScriptReplyError(this.script, `${field} (at ${at}) is ${JSON.stringify(v)}, not an integer`);
  }

  str(at: number, field: string): string {
    const v = this.reply[at];
    if (typeof v === "string") return v;
    throw new RoomScriptReplyError(this.script, `${field} (at ${at}) is ${JSON.stringify(v)}, not a string`);
  }

  phase(at: number): RoomPhase {
    const v = this.str(at, "phase");
    if (!PHASES.has(v)) throw new RoomScriptReplyError(this.script, `phase ${v} is unknown`);
    return v as RoomPhase;
  }
}
