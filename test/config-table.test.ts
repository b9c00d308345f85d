import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { configTable, DOC_FILE, END_MARKER, SCHEMA_FILE, START_MARKER, tableInDoc } from "../scripts/config-table.ts";

/**
 * The configuration table of docs/operations.md is generated from the config schema (each
 * variable's doc comment, its default), so the two cannot drift apart: a variable added, removed,
 * re-defaulted or re-described in the schema without the table rewritten fails here. Needs neither
 * Redis nor PostgreSQL.
 */
describe(`${DOC_FILE}'s configuration table`, () => {
  const doc = readFileSync(new URL(`../${DOC_FILE}`, import.meta.url), "utf8");

  it("is the one the config schema generates", () => {
    const inDoc = tableInDoc(doc);
    expect(inDoc, `${DOC_FILE} has no ${START_MARKER} … ${END_MARKER} block`).toBeDefined();
    expect(
      inDoc,
      `${DOC_FILE}'s configuration table differs from ${SCHEMA_FILE}: edit the schema (not the table), then run \`npm run docs:config -- --write\` and commit ${DOC_FILE}`,
    ).toBe(configTable());
  });

  it("lists every variable once", () => {
    const names = [...(tableInDoc(doc) ?? "").matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(50);
    expect(new Set(names).size).toBe(names.length);
    for (const name of ["REDIS_URL", "DATABASE_URL", "HOLD_TTL_MS", "WS_PUSH_BURST", "CHAT_QUEUE_MAX_MS"]) expect(names).toContain(name);
  });
});
