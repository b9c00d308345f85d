import { readFileSync } from "node:fs";
import { parse } from "yaml";

/**
 * What the Grafana dashboard (deploy/grafana/dashboards/seat-drop.json) and the alert rules
 * (deploy/prometheus/rules.yml) ask Prometheus for, read once for the tests that check them against
 * what the apps (test/metrics.test.ts) and the exporters (test/haproxy.test.ts) export.
 */
export const DASHBOARD = new URL("../../deploy/grafana/dashboards/seat-drop.json", import.meta.url);
export const RULES = new URL("../../deploy/prometheus/rules.yml", import.meta.url);
export const RUNBOOKS = new URL("../../docs/runbooks.md", import.meta.url);

export interface DashboardPanel {
  type: string;
  title: string;
  datasource?: { uid: string };
  gridPos: { y: number };
  targets?: { expr: string; legendFormat?: string; datasource?: { uid: string } }[];
}
export interface Dashboard {
  panels: DashboardPanel[];
  templating?: { list: { name: string; type: string; multi?: boolean; includeAll?: boolean }[] };
}
export interface AlertRule {
  alert: string;
  expr: string;
  annotations: Record<string, string>;
}

export const dashboard = (): Dashboard => JSON.parse(readFileSync(DASHBOARD, "utf8")) as Dashboard;
export const alertRules = (): AlertRule[] => (parse(readFileSync(RULES, "utf8")) as { groups: { rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules);

/** The expressions of every dashboard panel and every alert rule, each with where it is. */
export function queries(): { where: string; expr: string }[] {
  const panels = dashboard().panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));
  return [...panels, ...alertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))];
}

/** The metric names an expression reads (identifiers that are neither functions, keywords nor label names). */
const PROMQL_WORDS = new Set(["sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile", "by", "without", "clamp_min", "clamp_max", "or", "and", "unless", "on", "ignoring", "bool", "e9"]);
export function metricsIn(expr: string): { metrics: string[]; labels: Set<string> } {
  const noStrings = expr.replace(/"[^"]*"/g, '""').replace(/\[[^\]]*\]/g, "");
  const names = [...noStrings.matchAll(/\b([a-z_:][a-z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1]!).filter((n) => !PROMQL_WORDS.has(n));
  const labels = new Set([...expr.matchAll(/(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(",").map((s) => s.trim())));
  for (const m of expr.replace(/"[^"]*"/g, '""').matchAll(/\{([^}]*)\}/g)) for (const l of m[1]!.matchAll(/([a-z_]+)\s*(?:=~|!=|!~|=)/g)) labels.add(l[1]!);
  return { metrics: [...new Set(names.filter((n) => !labels.has(n)))], labels };
}

/**
 * The redis_exporter and postgres_exporter metrics the dashboard and rules may use (named as those
 * exporters export them; neither runs here). HAProxy's are checked against a running HAProxy
 * (test/haproxy.test.ts).
 */
export const EXPORTER_METRICS: Record<string, readonly string[]> = {
  redis: ["redis_up", "redis_commands_processed_total", "redis_connected_clients", "redis_cpu_sys_seconds_total", "redis_cpu_user_seconds_total", "redis_memory_used_bytes"],
  postgres: ["pg_up", "pg_stat_database_xact_commit", "pg_stat_database_xact_rollback", "pg_stat_database_numbackends"],
};
