import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The k6 scripts (load-tests/k6/*.js) cannot run here (k6 is a Go binary), so CI checks them
 * against k6's type definitions (@types/k6) with tsc's checkJs: a misspelt API, a wrong argument
 * type or a syntax error fails the suite instead of the next load test.
 */
const root = fileURLToPath(new URL("..", import.meta.url));

describe("load-tests/k6", () => {
  it("has the drop and chat scenarios", () => {
    expect(readdirSync(`${root}load-tests/k6`).filter((f) => f.endsWith(".js")).sort()).toEqual(["chat.js", "drop.js"]);
  });

  it("type-checks against @types/k6", () => {
    const r = spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, "-p", `${root}load-tests/k6/tsconfig.json`], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  }, 60_000);
});
