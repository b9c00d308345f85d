import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
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

// The secrets as a user gets them: deploy/make-secrets.sh into a scratch folder, then compose's own
// substitution of `${NAME:?…}` and `${NAME:-default}` from that .env.
const scratch = mkdtempSync(path.join(tmpdir(), "sdc-secrets-"));
const made = spawnSync("bash", [fileURLToPath(new URL("../deploy/make-secrets.sh", import.meta.url))], { env: { ...process.env, OUT_DIR: scratch }, encoding: "utf8" });
if (made.status !== 0) throw new Error(`deploy/make-secrets.sh failed: ${made.stderr}`);
const dotEnv = Object.fromEntries(readFileSync(path.join(scratch, ".env"), "utf8").trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
const metricsTokenFile = readFileSync(path.join(scratch, "deploy/prometheus/metrics-token"), "utf8");
/** A service's environment as compose hands it over, with .env substituted; an unset `${NAME:?…}` throws as compose refuses. */
function resolved(env: Record<string, string> = {}): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [
      k,
      String(v).replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_m, name: string, op?: string, rest?: string) => {
        const value = dotEnv[name];
        if (value !== undefined) return value;
        if (op === "-") return rest ?? "";
        throw new Error(`compose would refuse: ${name} is not set (${rest})`);
      }),
    ]),
  );
}
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
      const config = loadConfig(resolved(s.environment));
      expect(grace, name).toBeGreaterThan(config.WS_DRAIN_NOTICE_MS + config.WS_DRAIN_INFLIGHT_MS);
    }
  });

  it("gives Prometheus its rules and the token every /metrics requires, from the file make-secrets.sh writes", () => {
    const prom = compose.services.prometheus!;
    expect(prom.volumes).toContain("./deploy/prometheus:/etc/prometheus:ro");
    const scrape = parse(readFileSync(new URL("../deploy/prometheus/prometheus.yml", import.meta.url), "utf8")) as {
      rule_files: string[];
      scrape_configs: { job_name: string; authorization?: { credentials_file?: string } }[];
    };
    expect(scrape.rule_files).toEqual(["rules.yml"]);
    expect(scrape.scrape_configs.map((c) => [c.job_name, c.authorization?.credentials_file])).toEqual([
      ["ws-node", "/etc/prometheus/metrics-token"],
      ["api", "/etc/prometheus/metrics-token"],
      ["worker", "/etc/prometheus/metrics-token"],
      ["haproxy", undefined],
      ["redis", undefined],
      ["postgres", undefined],
    ]);
    const token = resolved(compose.services.api!.environment).METRICS_TOKEN;
    expect(metricsTokenFile).toBe(token);
  });

  it("runs Alertmanager with its receiver and the exporters Prometheus scrapes, at the addresses it scrapes", () => {
    const prom = parse(readFileSync(new URL("../deploy/prometheus/prometheus.yml", import.meta.url), "utf8")) as {
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const hostOf = (target: string) => target.split(":")[0]!;
    expect(prom.alerting.alertmanagers[0]!.static_configs[0]!.targets).toEqual(["alertmanager:9093"]);
    expect(compose.services.alertmanager!.volumes).toContain("./deploy/alertmanager:/etc/alertmanager:ro");
    // Its receivers post to the API's alerts route (the ops page) with the metrics token make-secrets.sh writes for it.
    const am = parse(readFileSync(new URL("../deploy/alertmanager/alertmanager.yml", import.meta.url), "utf8")) as {
      route: { receiver: string };
      receivers: { name: string; webhook_configs?: { url: string; http_config?: { authorization?: { credentials_file?: string } } }[] }[];
    };
    for (const r of am.receivers) {
      const hook = r.webhook_configs?.[0];
      expect(hook?.url, r.name).toBe(`http://api:${resolved(compose.services.api!.environment).API_PORT}/api/ops/alerts`);
      expect(hook?.http_config?.authorization?.credentials_file, r.name).toBe("/etc/alertmanager/metrics-token");
    }
    expect(readFileSync(path.join(scratch, "deploy/alertmanager/metrics-token"), "utf8")).toBe(metricsTokenFile);
    for (const job of ["haproxy", "redis", "postgres"]) {
      const target = prom.scrape_configs.find((c) => c.job_name === job)!.static_configs[0]!.targets[0]!;
      expect(compose.services[hostOf(target)], `${job} scrapes ${target}`).toBeDefined();
    }
    // HAProxy's exporter listens where Prometheus scrapes it.
    expect(readFileSync(new URL("../deploy/haproxy.cfg", import.meta.url), "utf8")).toMatch(/bind :8405\n(?:.*\n)*?\s*http-request use-service prometheus-exporter/);
  });

  it("ships no secret: compose refuses to start without .env, and every generated secret passes production's checks", () => {
    for (const name of ["JWT_SECRET", "SERVICE_SECRET", "PAYMENT_WEBHOOK_SECRET", "METRICS_TOKEN", "ADMIN_PASSWORD"]) {
      expect(compose.services.api!.environment![name], name).toMatch(/^\$\{\w+:\?/);
      expect(dotEnv[name]!.length, name).toBeGreaterThanOrEqual(64);
    }
    expect(() => resolved({ X: "${NOT_IN_DOT_ENV:?run deploy/make-secrets.sh first}" })).toThrow(/compose would refuse/);
    for (const name of Object.keys(APPS)) expect(loadConfig(resolved(compose.services[name]!.environment)).NODE_ENV, name).toBe("production");
  });

  it("trusts X-Forwarded-For from HAProxy's pinned address only, inside the network's fixed subnet", () => {
    const full = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8"), { merge: true }) as {
      services: Record<string, { networks?: { default?: { ipv4_address?: string } } }>;
      networks: { default: { ipam: { config: { subnet: string }[] } } };
    };
    const haproxy = full.services.haproxy!.networks!.default!.ipv4_address!;
    const subnet = full.networks.default.ipam.config[0]!.subnet;
    expect(haproxy.startsWith(subnet.split("/")[0]!.replace(/\.0$/, "."))).toBe(true);
    for (const name of Object.keys(APPS)) expect(loadConfig(resolved(compose.services[name]!.environment)).TRUSTED_PROXIES, name).toEqual([haproxy]);
  });

  it("has a redis-cluster profile: six cluster nodes joined into three masters with a replica each, the seeds its header gives the apps", () => {
    type Node = Service & { profiles?: string[]; command?: string[] | string; networks?: { default?: { ipv4_address?: string } } };
    const services = compose.services as Record<string, Node>;
    const nodes = Object.entries(services).filter(([name]) => /^redis-c\d$/.test(name));
    expect(nodes.length).toBe(6);
    const addresses = nodes.map(([name, s]) => {
      expect(s.profiles, name).toEqual(["redis-cluster"]);
      expect((s.command as string[]).join(" "), name).toContain("--cluster-enabled yes");
      return `${s.networks!.default!.ipv4_address}:6379`;
    });
    const init = services["redis-cluster-init"]!;
    expect(init.profiles).toEqual(["redis-cluster"]);
    const script = (init.command as string[]).join(" ");
    expect(script).toContain(`--cluster create ${addresses.join(" ")} --cluster-replicas 1`);
    // The seeds the file's header tells a user to export, as every app reads them.
    const header = /REDIS_CLUSTER_NODES=(\S+) docker compose --profile redis-cluster up/.exec(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8"));
    const seeds = header![1]!;
    for (const seed of seeds.split(",")) expect(addresses).toContain(seed);
    for (const name of Object.keys(APPS)) {
      const env = resolved({ ...compose.services[name]!.environment, REDIS_CLUSTER_NODES: seeds });
      expect(loadConfig(env).REDIS_CLUSTER_NODES, name).toHaveLength(3);
      // Without the variable the apps stay on the one Redis.
      expect(loadConfig(resolved(compose.services[name]!.environment)).REDIS_CLUSTER_NODES, name).toBeUndefined();
    }
  });
});
