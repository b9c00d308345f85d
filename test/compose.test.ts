import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "@seatdrop/config";

/**
 * docker-compose.yml cannot run here (no Docker on these machines), so its start order is checked
 * as data: every app waits for healthy Redis and PostgreSQL (no service overrides the shared
 * conditions), has a healthcheck on its own /readyz, uses the one image, and the ws-nodes get time
 * to drain; Prometheus gets its rules and the metrics token the apps require.
 */
type Service = {
  image?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  volumes?: string[];
};
const compose = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8"), { merge: true }) as { services: Record<string, Service> };
const APPS = { api: "API_PORT", worker: "WORKER_PORT", "ws-1": "WS_PORT", "ws-2": "WS_PORT", "ws-3": "WS_PORT" } as const;

describe("docker-compose.yml", () => {
  it("starts every app after Redis and PostgreSQL are healthy, with a /readyz healthcheck on its own port", () => {
    const images = new Set<string | undefined>();
    for (const [name, portVar] of Object.entries(APPS)) {
      const s = compose.services[name]!;
      expect(s.depends_on, name).toEqual({ redis: { condition: "service_healthy" }, postgres: { condition: "service_healthy" } });
      expect(s.healthcheck?.test.join(" "), name).toContain("/readyz");
      expect(s.environment?.PROBE_PORT, name).toBe(s.environment?.[portVar]);
      images.add(s.image);
    }
    expect([...images]).toEqual(["seat-drop-cluster:local"]);
  });

  it("gives a draining ws-node longer than its notice period, and runs with a valid production config", () => {
    for (const name of ["ws-1", "ws-2", "ws-3"]) {
      const s = compose.services[name]!;
      const grace = Number(/^(\d+)s$/.exec(s.stop_grace_period ?? "")?.[1] ?? 10) * 1000;
      const config = loadConfig({ ...s.environment });
      expect(grace, name).toBeGreaterThan(config.WS_DRAIN_NOTICE_MS + config.WS_DRAIN_INFLIGHT_MS);
    }
  });

  it("gives Prometheus its rules and the token every /metrics requires", () => {
    const prom = compose.services.prometheus!;
    expect(prom.volumes).toContain("./deploy/prometheus:/etc/prometheus:ro");
    const scrape = parse(readFileSync(new URL("../deploy/prometheus/prometheus.yml", import.meta.url), "utf8")) as {
      rule_files: string[];
      scrape_configs: { job_name: string; authorization?: { credentials?: string } }[];
    };
    expect(scrape.rule_files).toEqual(["rules.yml"]);
    const token = compose.services.api!.environment!.METRICS_TOKEN;
    expect(scrape.scrape_configs.map((c) => [c.job_name, c.authorization?.credentials])).toEqual([
      ["ws-node", token],
      ["api", token],
      ["worker", token],
    ]);
  });

  it("trusts X-Forwarded-For from HAProxy's pinned address only, inside the network's fixed subnet", () => {
    const full = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8"), { merge: true }) as {
      services: Record<string, { networks?: { default?: { ipv4_address?: string } } }>;
      networks: { default: { ipam: { config: { subnet: string }[] } } };
    };
    const haproxy = full.services.haproxy!.networks!.default!.ipv4_address!;
    const subnet = full.networks.default.ipam.config[0]!.subnet;
    expect(haproxy.startsWith(subnet.split("/")[0]!.replace(/\.0$/, "."))).toBe(true);
    for (const name of Object.keys(APPS)) expect(loadConfig({ ...compose.services[name]!.environment }).TRUSTED_PROXIES, name).toEqual([haproxy]);
  });
});
