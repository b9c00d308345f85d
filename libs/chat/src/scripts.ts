import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Redis } from "@seatdrop/redis";

const luaDir = fileURLToPath(new URL("../lua/", import.meta.url));
const includeLine = /^--- @include "([A-Za-z0-9_]+)"\s*$/m;

/** The chat scripts (../lua), by camelName. */
export type ChatScriptName = "chatEmit" | "presenceJoin" | "presenceLeave" | "chatRate" | "typing";

interface LoadedScript {
  name: ChatScriptName;
  command: string;
  numberOfKeys: number;
  lua: string;
}

function resolveIncludes(src: string, seen = new Set<string>()): string {
  return src.replace(new RegExp(includeLine, "gm"), (_m, inc: string) => {
    if (seen.has(inc)) return "";
    seen.add(inc);
    return resolveIncludes(readFileSync(`${luaDir}includes/${inc}.lua`, "utf8"), seen);
  });
}

let cache: LoadedScript[] | undefined;
function loadScripts(): LoadedScript[] {
  if (cache) return cache;
  cache = readdirSync(luaDir)
    .filter((f) => /^[a-zA-Z]+-\d+\.lua$/.test(f))
    .map((f) => {
      const [name, keys] = f.replace(/\.lua$/, "").split("-") as [ChatScriptName, string];
      const lua = resolveIncludes(readFileSync(luaDir + f, "utf8"));
      // The content hash in the command name keeps two deployed versions from running each other's code.
      const version = createHash("sha1").update(lua).digest("hex").slice(0, 10);
      return { name, command: `chat_${name}_${version}`, numberOfKeys: Number(keys), lua };
    });
  return cache;
}

export type ChatScriptCaller = (name: ChatScriptName, keys: string[], args: (string | number)[]) => Promise<unknown>;

/** Registers the chat scripts on a connection (`defineCommand`) and returns a caller by camelName. */
export function registerChatScripts(redis: Redis): ChatScriptCaller {
  const commands = new Map<ChatScriptName, string>();
  for (const s of loadScripts()) {
    if (!(s.command in redis)) redis.defineCommand(s.command, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    commands.set(s.name, s.command);
  }
  return (name, keys, args) => {
    const cmd = commands.get(name);
    if (!cmd) throw new Error(`unknown chat script ${name}`);
    return (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[cmd]!(...keys, ...args);
  };
}
