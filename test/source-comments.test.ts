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
 * N") tells a reader nothing: comments say why the code is as it is, and the history is git's. A
 * reliability finding is named by its row in docs/reliability.md ("round two, finding 4").
 */
describe("source comments", () => {
  it("name no project issue by number", () => {
    // The source folders: every app, the libs, the scripts, the load tests and these tests.
    const dirs = [...readdirSync(join(root, "apps")).map((a) => join(root, "apps", a)), ...["libs", "scripts", "load-tests", "test"].map((d) => join(root, d))];
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
