import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createKeys } from "../src/keys.ts";

/**
 * The Lua scripts build the keys they do not receive in KEYS from the event's key base, with the
 * suffixes of the one key builder (keys.ts). Every such concatenation in every script must name a key
 * keys.ts builds, or the script and the TypeScript read different keys and nothing fails until
 * production. Each `base .. 'a:' .. user .. ':b'` becomes the template `a:<x>:b` and must equal a
 * key of the script's family built with `<x>` for every argument.
 */
const libs = fileURLToPath(new URL("../../", import.meta.url));
const X = "<x>";

function luaFiles(lib: string): string[] {
  const dir = join(libs, lib, "lua");
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) for (const f of readdirSync(join(dir, entry.name))) out.push(join(dir, entry.name, f));
    else if (entry.name.endsWith(".lua")) out.push(join(dir, entry.name));
  }
  return out.filter((f) => f.endsWith(".lua"));
}

/** Every concatenation that starts at `root` (`base`, or seatLib's `wr`), as a template. */
function templates(source: string, root: string): string[] {
  const out: string[] = [];
  const chain = new RegExp(`\\b${root} \\.\\. ((?:'[^']*'|[A-Za-z_][\\w.]*(?:\\[[^\\]]*\\])?)(?: \\.\\. (?:'[^']*'|[A-Za-z_][\\w.]*(?:\\[[^\\]]*\\])?))*)`, "g");
  for (const m of source.matchAll(chain)) {
    const parts = m[1]!.split(" .. ");
    out.push(parts.map((p) => (p.startsWith("'") ? p.slice(1, -1) : X)).join(""));
  }
  return out;
}

/** Every key a family builds, relative to its base, with `<x>` for each argument. */
function family(build: Record<string, unknown>, base: string): Set<string> {
  const out = new Set<string>();
  for (const [name, v] of Object.entries(build)) {
    if (name === "base") continue;
    const key = typeof v === "function" ? (v as (...a: string[]) => string)(X, X) : v;
    if (typeof key === "string" && key.startsWith(base)) out.add(key.slice(base.length));
  }
  return out;
}

describe("the Lua scripts' key names", () => {
  const keys = createKeys("p");
  const event = keys.event("E");
  const eventKeys = family(event as unknown as Record<string, unknown>, event.base);
  const room = keys.room("E");
  const roomKeys = family(room as unknown as Record<string, unknown>, room.base);
  const chat = keys.chat("E");
  const chatKeys = family(chat as unknown as Record<string, unknown>, chat.base);
  // seatLib's `wr` is the waiting room's base, built from the event's (keys.room).
  it("the waiting room's base is the event's base plus the suffix seatLib uses", () => {
    expect(room.base).toBe(`${event.base}wr:`);
  });

  for (const [lib, roots] of [
    ["seats", { base: eventKeys, wr: roomKeys }],
    ["queue", { base: eventKeys }],
    ["chat", { base: chatKeys }],
  ] as const) {
    it(`libs/${lib}: every key built from a base is one keys.ts builds`, () => {
      let seen = 0;
      for (const file of luaFiles(lib)) {
        const source = readFileSync(file, "utf8");
        for (const [root, known] of Object.entries(roots)) {
          for (const t of templates(source, root)) {
            seen++;
            // `base .. 'wr:'` in seatLib is the room's base itself.
            if (root === "base" && lib === "seats" && t === "wr:") continue;
            expect(known.has(t), `${file.slice(libs.length)}: ${root} .. "${t}" is not a key of keys.ts (${[...known].join(", ")})`).toBe(true);
          }
        }
      }
      expect(seen).toBeGreaterThan(0);
    });
  }
});
