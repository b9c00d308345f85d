import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DOC_FILE, drawingInDoc, END_MARKER, layoutDrawing, START_MARKER } from "../scripts/layout-map.ts";

/**
 * ARCHITECTURE.md's map of the code cannot drift from the folders: its layout drawing is generated
 * from the files (`npm run docs:layout -- --write`), and its table of apps and libs has one row
 * per folder of `apps/` and `libs/`, none for a folder that is gone.
 */
describe(`${DOC_FILE}'s map`, () => {
  const doc = readFileSync(new URL(`../${DOC_FILE}`, import.meta.url), "utf8");

  it("draws the layout the files have", () => {
    const inDoc = drawingInDoc(doc);
    expect(inDoc, `${DOC_FILE} has no ${START_MARKER} … ${END_MARKER} block`).toBeDefined();
    expect(inDoc, `${DOC_FILE}'s layout drawing is stale: run \`npm run docs:layout -- --write\` and commit ${DOC_FILE}`).toBe(layoutDrawing());
  });

  it("has one row per app and lib in its table", () => {
    const rows = [...doc.matchAll(/^\| `((?:apps|libs)\/[\w-]+)` \|/gm)].map((m) => m[1]);
    const folders = ["apps", "libs"].flatMap((top) =>
      readdirSync(new URL(`../${top}`, import.meta.url), { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => `${top}/${d.name}`),
    );
    expect(rows.length).toBe(new Set(rows).size);
    expect([...rows].sort()).toEqual(folders.sort());
  });
});
