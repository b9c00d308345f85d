import { fileURLToPath } from "node:url";
import { readReply, registerLuaScripts, ScriptReplyError, type Redis, type ScriptCaller } from "@seatdrop/redis";

const luaDir = fileURLToPath(new URL("../lua/", import.meta.url));

/** The chat scripts (../lua), by camelName. */
export type ChatScriptName = "chatEmit" | "presenceBatch" | "presenceLeave" | "chatRate" | "typing";

export type ChatScriptCaller = ScriptCaller<ChatScriptName>;

/** Registers the chat scripts on a connection; see libs/redis/src/lua-scripts.ts. */
export function registerChatScripts(redis: Redis): ChatScriptCaller {
  return registerLuaScripts<ChatScriptName>(redis, luaDir, "chat");
}

/*
 * Typed decoders of the chat scripts' replies (the `Output` each ../lua/<name>-<n>.lua header
 * states), beside the scripts' names: ChatBus calls each script and reads its reply through one.
 */

/** chatEmit: `{seq, epoch}` of the event just appended to the room's order. */
export function decodeChatEmit(r: unknown): { seq: number; epoch: string } {
  const x = readReply("chatEmit", r, 2);
  return { seq: x.int(0, "seq"), epoch: x.str(1, "epoch") };
}

/** typing: 1 when the notice was published, 0 when throttled. */
export function decodeTyping(r: unknown): boolean {
  if (r !== 0 && r !== 1) throw new ScriptReplyError("typing", `expected 0 or 1, got ${JSON.stringify(r)}`);
  return r === 1;
}

/** chatRate: `{1, left}` when the message may go, else `{0, wait ms, "slow" | "rate"}`. */
export function decodeChatRate(r: unknown): { ok: true; left: number } | { ok: false; waitMs: number; why: "slow" | "rate" } {
  const x = readReply("chatRate", r, 2);
  if (x.flag(0, "ok")) return { ok: true, left: x.int(1, "left") };
  return { ok: false, waitMs: x.int(1, "wait"), why: x.oneOf(2, "why", RATE_REASONS) };
}
const RATE_REASONS: ReadonlySet<"slow" | "rate"> = new Set(["slow", "rate"]);

/** presenceBatch: `{seq, epoch, joined, gone}`; seq 0 (and an empty epoch) when nothing changed. */
export function decodePresenceBatch(r: unknown): { seq: number; epoch: string; joined: number; gone: number } {
  const x = readReply("presenceBatch", r, 4);
  return { seq: x.int(0, "seq"), epoch: x.str(1, "epoch"), joined: x.int(2, "joined"), gone: x.int(3, "gone") };
}

/** presenceLeave: `{removed, seq}`; both 0 when nothing was there. */
export function decodePresenceLeave(r: unknown): { removed: number; seq: number } {
  const x = readReply("presenceLeave", r, 2);
  return { removed: x.int(0, "removed"), seq: x.int(1, "seq") };
}
