import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Every file under `dir` whose name ends with one of `exts` (node_modules skipped). */
function filesUnder(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path, exts));
    else if (exts.some((e) => name.endsWith(e))) out.push(path);
  }
  return out;
}

/**
 * The project's issues live outside the repository, so a comment that points at one ("see issue
 * N") tells a reader nothing: comments say why the code is as it is, and the history is git's.
 */
describe("source comments", () => {
  it("name no project issue by number", () => {
    // The apps so far; libs/, scripts/, load-tests/ and test/ join this list once rid of theirs.
    const dirs = readdirSync(join(root, "apps")).map((a) => join(root, "apps", a));
    const refs: string[] = [];
    const pattern = /\bissues? \d+/i;
    for (const dir of dirs)
      for (const file of filesUnder(dir, [".ts", ".js", ".lua", ".md", ".html", ".css", ".cfg"]))
        readFileSync(file, "utf8")
          .split("\n")
          .forEach((line, i) => {
            if (pattern.test(line)) refs.push(`${relative(root, file)}:${i + 1}: ${line.trim()}`);
          });
    expect(refs, "say why instead of pointing at an issue").toEqual([]);
  });
});
