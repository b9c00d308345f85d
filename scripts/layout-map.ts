/**
 * `npm run docs:layout`: prints the source layout drawn in ARCHITECTURE.md (every folder of the
 * apps' and libs' sources, with its files), generated from the files git tracks;
 * `npm run docs:layout -- --write` puts it into ARCHITECTURE.md between its `<!-- layout:start -->`
 * and `<!-- layout:end -->` markers. test/architecture-layout.test.ts fails when the two differ, so
 * the drawing cannot go stale as files move.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
export const DOC_FILE = "ARCHITECTURE.md";
export const START_MARKER = "<!-- layout:start -->";
export const END_MARKER = "<!-- layout:end -->";
/** What the drawing covers: the sources of every app and lib, their Lua scripts, and the tooling beside them. */
/** Lines of the drawing wrap at this width. */
const LINE_MAX = 110;
const PATHSPECS = ["apps/*/src/*", "libs/*/src/*", "libs/*/lua/*", "load-tests/*", "scripts/*"];

/** The files under the drawing's folders (tracked, or new and not ignored), READMEs aside. */
export function trackedFiles(): string[] {
  return execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "--deduplicate", ...PATHSPECS], { cwd: root, encoding: "utf8" })
    .split("\n")
    .filter((f) => f && !f.endsWith("README.md"));
}

/**
 * One line per folder, indented by depth under its app or lib, listing the folder's own files:
 * `apps/ws-node/src/channels/  channel.ts codec.ts …`.
 */
export function layoutDrawing(files: readonly string[] = trackedFiles()): string {
  const byDir = new Map<string, string[]>();
  for (const f of files) {
    const i = f.lastIndexOf("/");
    const dir = f.slice(0, i + 1);
    if (!byDir.has(dir)) byDir.set(dir, []);
    byDir.get(dir)!.push(f.slice(i + 1));
  }
  const dirs = [...byDir.keys()].sort();
  const width = Math.max(...dirs.map((d) => d.length)) + 2;
  const lines: string[] = [];
  for (const d of dirs) {
    // Files wrap at LINE_MAX, continuing under the first file.
    let line = d.padEnd(width);
    for (const f of byDir.get(d)!.sort()) {
      if (line.length + f.length > LINE_MAX && line.trim() !== d) {
        lines.push(line.trimEnd());
        line = " ".repeat(width);
      }
      line += `${f} `;
    }
    lines.push(line.trimEnd());
  }
  return ["```text", ...lines, "```"].join("\n");
}

/** The drawing as ARCHITECTURE.md has it, or undefined without the markers. */
export function drawingInDoc(doc: string): string | undefined {
  const a = doc.indexOf(START_MARKER);
  const b = doc.indexOf(END_MARKER);
  if (a < 0 || b < a) return undefined;
  return doc.slice(a + START_MARKER.length, b).trim();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const drawing = layoutDrawing();
  if (!process.argv.includes("--write")) console.log(drawing);
  else {
    const path = root + DOC_FILE;
    const doc = readFileSync(path, "utf8");
    if (drawingInDoc(doc) === undefined) throw new Error(`${DOC_FILE} has no ${START_MARKER} … ${END_MARKER} block`);
    writeFileSync(path, doc.slice(0, doc.indexOf(START_MARKER) + START_MARKER.length) + "\n" + drawing + "\n" + doc.slice(doc.indexOf(END_MARKER)));
    console.log(`${DOC_FILE}: layout drawing written`);
  }
}
