import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/** A function longer than this (its own lines: nested functions and handlers aside) is split. */
const MAX_OWN_LINES = 80;

/**
 * Every function in the apps' and libs' sources stays readable: at most MAX_OWN_LINES lines of its
 * own. A nested function (a route handler, a callback) counts toward itself, not its parent, so a
 * Fastify plugin that registers routes is measured without their handlers.
 */
export function longFunctions(files: readonly string[], max = MAX_OWN_LINES): string[] {
  const found: string[] = [];
  for (const file of files) {
    const src = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    const span = (n: ts.Node) => src.getLineAndCharacterOfPosition(n.getEnd()).line - src.getLineAndCharacterOfPosition(n.getStart()).line + 1;
    const bodyOf = (n: ts.Node): ts.Node | undefined => (ts.isFunctionLike(n) ? (n as { body?: ts.Node }).body : undefined);
    const visit = (n: ts.Node): void => {
      const body = bodyOf(n);
      if (body) {
        let own = span(body);
        const subtract = (m: ts.Node): void => {
          const inner = bodyOf(m);
          if (inner) own -= span(inner) - 1;
          else ts.forEachChild(m, subtract);
        };
        ts.forEachChild(body, subtract);
        if (own > max) {
          const name = (n as { name?: ts.Node }).name?.getText(src) ?? "(anonymous)";
          found.push(`${file}:${src.getLineAndCharacterOfPosition(n.getStart()).line + 1} ${name}: ${own} lines`);
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  return found;
}

describe("function length", () => {
  it(`no function in apps/*/src or libs/*/src is over ${MAX_OWN_LINES} lines of its own`, () => {
    const files = execFileSync("git", ["ls-files", "apps/*/src/*.ts", "apps/*/src/**/*.ts", "libs/*/src/*.ts", "libs/*/src/**/*.ts"], { encoding: "utf8" })
      .split("\n")
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
    expect(files.length).toBeGreaterThan(100);
    expect(longFunctions(files)).toEqual([]);
  });

  it("measures a function's own lines, its nested handlers aside", () => {
    const file = "test/support/long-function.fixture.ts";
    // The fixture's outer body is 10 lines, holding a 6-line handler: 5 lines of its own.
    expect(longFunctions([file], 4).map((l) => l.replace(/^.*?:\d+ /, ""))).toEqual(["outer: 5 lines", "(anonymous): 6 lines"]);
    expect(longFunctions([file], 6)).toEqual([]);
  });
});
