import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import type { Redis } from "./connect.ts";

const includeLine = /^--- @include "([A-Za-z0-9_]+)"\s*$/gm;

export interface LoadedScript {
  name: string;
  command: string;
  numberOfKeys: number;
  lua: string;
}

function resolveIncludes(dir: string, src: string, seen = new Set<string>()): string {
  return src.replace(includeLine, (_m, inc: string) => {
    if (seen.has(inc)) return "";
    seen.add(inc);
    return resolveIncludes(dir, readFileSync(`${dir}includes/${inc}.lua`, "utf8"), seen);
  });
}

const cache = new Map<string, LoadedScript[]>();

/**
 * Reads a folder of Lua scripts in the BullMQ convention (each script its own file with a header
 * stating its KEYS, ARGV and replies, readable without the TypeScript): `<camelName>-<numKeys>.lua`,
 * shared helpers in `includes/` pulled in by a `--- @include "<name>"` line. Each gets a command
 * name `<namespace>_<camelName>_<content hash>`, so two deployed versions never run each other's
 * code. Read once per process and folder.
 */
function loadFolder(dir: string, namespace: string): LoadedScript[] {
  const key = `${namespace}|${dir}`;
  let scripts = cache.get(key);
  if (!scripts) {
    scripts = readdirSync(dir)
      .filter((f) => /^[a-zA-Z]+-\d+\.lua$/.test(f))
      .map((f) => {
        const [name, keys] = f.replace(/\.lua$/, "").split("-") as [string, string];
        const lua = resolveIncludes(dir, readFileSync(dir + f, "utf8"));
        const version = createHash("sha1").update(lua).digest("hex").slice(0, 10);
        return { name, command: `${namespace}_${name}_${version}`, numberOfKeys: Number(keys), lua };
      });
    cache.set(key, scripts);
  }
  return scripts;
}

/** A folder's scripts as they are registered (name, command, numberOfKeys, Lua text with includes resolved). */
export function luaScripts(dir: string, namespace: string): readonly LoadedScript[] {
  return loadFolder(dir, namespace);
}

export type ScriptCaller<N extends string> = (name: N, keys: string[], args: (string | number)[]) => Promise<unknown>;

/**
 * Registers a folder's scripts on a connection (`defineCommand`: EVALSHA, falling back to EVAL once
 * after a Redis restart) and returns a caller that names them by their stable camelName.
 * `dir` ends with a slash.
 */
export function registerLuaScripts<N extends string>(redis: Redis, dir: string, namespace: string): ScriptCaller<N> {
  const commands = new Map<string, string>();
  for (const s of loadFolder(dir, namespace)) {
    if (!(s.command in redis)) redis.defineCommand(s.command, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    commands.set(s.name, s.command);
  }
  return (name, keys, args) => {
    const cmd = commands.get(name);
    if (!cmd) throw new Error(`no ${namespace} script named ${name} in ${dir}`);
    return (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[cmd]!(...keys, ...args);
  };
}
