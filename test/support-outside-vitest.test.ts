import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The benchmarks (load-tests/) reuse some of the test support outside vitest, where `vi` has no
 * state to run on: `vi.waitFor` there throws "Vitest failed to access its internal state" (which
 * once broke `npm run bench -- --quick` in CI). This runs each such module's polling in a plain
 * Node process, as the benchmarks do.
 */
const root = fileURLToPath(new URL("..", import.meta.url));

describe("test support the benchmarks share", () => {
  it("polls outside vitest (raw-phx's until)", () => {
    const script = `import("./test/support/raw-phx.ts").then(async (m) => { let n = 0; const v = await m.until(() => (++n > 2 ? n : undefined), 2000, () => "n > 2"); process.exit(v === 3 ? 0 : 1); }, (e) => { console.error(e); process.exit(2); });`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script], { cwd: root, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  }, 30_000);
});
