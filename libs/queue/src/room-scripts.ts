import { fileURLToPath } from "node:url";
import type { Redis } from "@seatdrop/redis";
import { registerLuaScripts, ScriptReplyError, type Keys } from "@seatdrop/redis";

const luaDir = fileURLToPath(new URL("../lua/", import.meta.url));

/** The waiting-room scripts (../lua), by camelName. */
export type RoomScriptName = "queueJoin" | "queuePositions" | "queueRestore" | "queueTick" | "queueDraw" | "queueLoad";

/** A room's phase as the scripts tell it (see lua/includes/roomLib.lua). */
export type RoomPhase = "not_open" | "pre_queue" | "draw_due" | "running" | "sold_out" | "closed";
export const PHASES: ReadonlySet<RoomPhase> = new Set<RoomPhase>(["not_open", "pre_queue", "draw_due", "running", "sold_out", "closed"]);

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
    if (!Array.isArray(reply) || reply.length === 0) throw new ScriptReplyError(name, `expected a non-empty array, got ${JSON.stringify(reply)}`);
    return reply as unknown[];
  };
}
