import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
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
    // Checked as compose runs it: in /etc/prometheus's place, with the token file make-secrets.sh writes.
    const copy = mkdtempSync(path.join(tmpdir(), "sdc-prom-"));
    cpSync(dir, copy, { recursive: true });
    const config = readFileSync(`${dir}prometheus.yml`, "utf8").replaceAll("/etc/prometheus/metrics-token", path.join(copy, "metrics-token"));
    writeFileSync(path.join(copy, "prometheus.yml"), config);
    writeFileSync(path.join(copy, "metrics-token"), "a-metrics-token-of-the-right-length-0123456789");
    const r = spawnSync(promtool!, ["check", "config", path.join(copy, "prometheus.yml")], { encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain("1 rule files found");
  });

  it("names every alert a drop needs", () => {
    const text = readFileSync(`${dir}rules.yml`, "utf8");
    for (const alert of ["FanoutLagHigh", "HoldExpiryLagHigh", "LockErrorRateHigh", "AppDown", "QueueBacklog", "SlowConsumerCloses"]) expect(text).toContain(`alert: ${alert}`);
  });
});

const amtool = ["amtool", "/usr/bin/amtool"].find((b) => spawnSync(b, ["--version"]).status === 0);
if (!amtool) console.warn("prometheus-rules.test.ts: amtool SKIPPED (apt-get install prometheus-alertmanager; .ci/run installs it)");

describe.skipIf(!amtool)("deploy/alertmanager checked by amtool", () => {
  it("alertmanager.yml is valid and routes to its receivers", () => {
    const file = fileURLToPath(new URL("../deploy/alertmanager/alertmanager.yml", import.meta.url));
    const r = spawnSync(amtool!, ["check-config", file], { encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("2 receivers");
    // A critical alert goes to the ops receiver, an info one to the quiet one.
    const route = (labels: string[]) => spawnSync(amtool!, ["config", "routes", "test", "--config.file", file, ...labels], { encoding: "utf8" }).stdout.trim();
    expect(route(["alertname=RedisDown", "severity=critical"])).toBe("ops");
    expect(route(["alertname=LockRefusalsMostlyLimits", "severity=info"])).toBe("quiet");
  });
});
