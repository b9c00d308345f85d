import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * deploy/prometheus: the alert rules and the scrape configuration, checked by Debian's promtool
 * (package `prometheus`; .ci/run installs it). Without it the test says so and is skipped.
 */
const dir = fileURLToPath(new URL("../deploy/prometheus/", import.meta.url));
const promtool = ["promtool", "/usr/bin/promtool"].find((b) => spawnSync(b, ["--version"]).status === 0);
if (!promtool) console.warn("prometheus-rules.test.ts SKIPPED: no promtool (apt-get install prometheus; .ci/run installs it)");

describe.skipIf(!promtool)("deploy/prometheus checked by promtool", () => {
  it("rules.yml has valid alert rules for a drop", () => {
    const r = spawnSync(promtool!, ["check", "rules", `${dir}rules.yml`], { encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const alerts = [...(r.stdout + r.stderr).matchAll(/SUCCESS: (\d+) rules found/g)].map((m) => Number(m[1]));
    expect(alerts[0]).toBeGreaterThanOrEqual(6);
  });

  it("prometheus.yml is valid and loads rules.yml", () => {
    const r = spawnSync(promtool!, ["check", "config", `${dir}prometheus.yml`], { encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain("1 rule files found");
  });

  it("names every alert a drop needs", () => {
    const text = readFileSync(`${dir}rules.yml`, "utf8");
    for (const alert of ["FanoutLagHigh", "HoldExpiryLagHigh", "LockErrorRateHigh", "AppDown", "QueueBacklog", "SlowConsumerCloses"]) expect(text).toContain(`alert: ${alert}`);
  });
});
