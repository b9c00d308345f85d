import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SEAT_SCRIPT_KEYS, createKeys } from "../src/keys.ts";
import { roomScriptKeys } from "../../queue/src/room-scripts.ts";

/**
 * The Lua scripts name the keys they receive in KEYS through one table per folder (`local K = {
 * meta = KEYS[1], … }` in seatLib, chatLib and roomLib); the TypeScript side builds those KEYS in
 * one place (libs/redis/src/keys.ts, and roomScriptKeys for the waiting room). If the two orders
 * drift, a script reads one key under another's name and nothing fails until production, so this
 * test reads each table and checks it against the builder. It also checks that no script builds a
 * key name by concatenation (every key a script touches is declared: test/lua-declared-keys.test.ts
 * watches them run).
 */
const libs = fileURLToPath(new URL("../../", import.meta.url));

function luaFiles(lib: string): string[] {
  const dir = join(libs, lib, "lua");
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) for (const f of readdirSync(join(dir, entry.name))) out.push(join(dir, entry.name, f));
    else out.push(join(dir, entry.name));
  }
  return out.filter((f) => f.endsWith(".lua"));
}

/** The `name = KEYS[n]` entries of a `local K = { … }` table, as names by position (1-based → index). */
function kTable(file: string): string[] {
  const source = readFileSync(join(libs, file), "utf8");
  const table = /local K = \{([^}]*)\}/.exec(source);
  if (!table) throw new Error(`${file}: no \`local K = { … }\` table`);
  const names: string[] = [];
  for (const m of table[1]!.matchAll(/(\w+) = KEYS\[(\d+)\]/g)) names[Number(m[2]) - 1] = m[1]!;
  return names;
}

describe("the Lua scripts' key tables", () => {
  const keys = createKeys("p");
  const event = keys.event("E");
  const chat = keys.chat("E");
  const room = keys.room("E");

  it("seatLib names KEYS in the order of SEAT_SCRIPT_KEYS, which EventKeys.script follows", () => {
    expect(kTable("seats/lua/includes/seatLib.lua")).toEqual([...SEAT_SCRIPT_KEYS]);
    const named: Record<string, string> = { ...event, roomMeta: room.meta, roomAdmitted: room.admitted, roomQueue: room.queue } as unknown as Record<string, string>;
    expect(event.script).toEqual(SEAT_SCRIPT_KEYS.map((n) => named[n]));
  });

  it("chatLib names KEYS in the order of ChatKeys.script", () => {
    const names = kTable("chat/lua/includes/chatLib.lua");
    expect(names.map((n) => (chat as unknown as Record<string, string>)[n])).toEqual(chat.script);
  });

  it("roomLib names KEYS in the order roomScriptKeys builds them", () => {
    const names = kTable("queue/lua/includes/roomLib.lua");
    // The room's own keys first; the event's seat keys the tick reads after them.
    const byName = (n: string) => (room as unknown as Record<string, string>)[n] ?? (event as unknown as Record<string, string>)[n];
    expect(names.map(byName)).toEqual(roomScriptKeys(keys, "E"));
  });

  for (const lib of ["seats", "chat", "queue"]) {
    it(`libs/${lib}: no script builds a key name or reads one from ARGV`, () => {
      for (const file of luaFiles(lib)) {
        const source = readFileSync(file, "utf8").replace(/--\[\[[\s\S]*?\]\]/g, "").replace(/--.*$/gm, "");
        const name = file.slice(libs.length);
        // A key is K.<name>, KEYS[n] or a local holding one; nothing is built from a key base.
        expect(source, `${name} uses a key base`).not.toMatch(/\bbase\b/);
        for (const m of source.matchAll(/redis\.call\('(\w+)', ([^,)]+)/g)) {
          const first = m[2]!.trim();
          if (m[1] === "TIME") continue;
          expect(first, `${name}: ${m[1]} ${first}`).toMatch(/^(K\.\w+|KEYS\[\d+\]|tmp|key)$/);
        }
      }
    });
  }
});
