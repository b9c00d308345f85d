import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";

const luaDir = fileURLToPath(new URL("../lua/", import.meta.url));
const includeLine = /^--- @include "([A-Za-z0-9_]+)"\s*$/m;

/** The seat scripts, by camelName, as registered on a connection. */
export type ScriptName = "lockSeat" | "unlockSeat" | "extendHold" | "releaseHold" | "sweepHolds" | "snapshot" | "setSeatState" | "loadEvent" | "markLive" | "reserveHold" | "rebuildState";

interface LoadedScript {
  name: ScriptName;
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
/** Reads every `<name>-<keys>.lua` once per process. */
export function loadScripts(): LoadedScript[] {
  if (cache) return cache;
  cache = readdirSync(luaDir)
    .filter((f) => /^[a-zA-Z]+-\d+\.lua$/.test(f))
    .map((f) => {
      const [name, keys] = f.replace(/\.lua$/, "").split("-") as [ScriptName, string];
      const lua = resolveIncludes(readFileSync(luaDir + f, "utf8"));
      const version = createHash("sha1").update(lua).digest("hex").slice(0, 10);
      return { name, command: `${name}_${version}`, numberOfKeys: Number(keys), lua };
    });
  return cache;
}

export type ScriptCaller = (name: ScriptName, keys: string[], args: (string | number)[]) => Promise<unknown>;

/**
 * Registers the scripts on a connection (ioredis sends EVALSHA, falling back to EVAL once after a
 * Redis restart) and returns a caller that names them by their stable camelName.
 */
export function registerScripts(redis: Redis): ScriptCaller {
  const commands = new Map<ScriptName, string>();
  for (const s of loadScripts()) {
    if (!(s.command in redis)) redis.defineCommand(s.command, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    commands.set(s.name, s.command);
  }
  return (name, keys, args) => {
    const cmd = commands.get(name);
    if (!cmd) throw new Error(`unknown seat script ${name}`);
    return (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[cmd]!(...keys, ...args);
  };
}
