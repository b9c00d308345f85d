import type { Keys, Redis } from "@seatdrop/redis";

/** One alert as the ops page shows it. */
export interface OpsAlert {
  fingerprint: string;
  name: string;
  severity: string;
  summary: string;
  runbook_url: string | null;
  instance: string | null;
  starts_at: string;
  /** When Alertmanager last said it was firing. */
  received_at: string;
}

/** An alert Alertmanager has not confirmed for this long is dropped from the page (Alertmanager itself may be down). */
const STALE_MS = 24 * 3_600_000;

/** Alertmanager's webhook alert (version 4), the fields used here. */
export interface WebhookAlert {
  status: "firing" | "resolved";
  fingerprint: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
}

/**
 * Alertmanager's webhook (deploy/alertmanager/alertmanager.yml routes every alert here): firing ones
 * are kept, resolved ones removed, in one Redis hash that every API instance reads for the ops page.
 */
export async function recordAlerts(redis: Redis, keys: Keys, alerts: WebhookAlert[], now = new Date()): Promise<{ firing: number; resolved: number }> {
  const firing = alerts.filter((a) => a.status === "firing");
  const resolved = alerts.filter((a) => a.status === "resolved");
  const m = redis.multi();
  for (const a of firing) {
    const view: OpsAlert = {
      fingerprint: a.fingerprint,
      name: a.labels.alertname ?? "(unnamed)",
      severity: a.labels.severity ?? "warning",
      summary: a.annotations.summary ?? a.annotations.description ?? "",
      runbook_url: a.annotations.runbook_url ?? null,
      instance: a.labels.instance ?? null,
      starts_at: a.startsAt,
      received_at: now.toISOString(),
    };
    m.hset(keys.opsAlerts, a.fingerprint, JSON.stringify(view));
  }
  if (resolved.length > 0) m.hdel(keys.opsAlerts, ...resolved.map((a) => a.fingerprint));
  await m.exec();
  return { firing: firing.length, resolved: resolved.length };
}

/** The alerts firing now, critical first, then the oldest; stale ones are dropped on the way. */
export async function firingAlerts(redis: Redis, keys: Keys, now = Date.now()): Promise<OpsAlert[]> {
  const all = Object.entries(await redis.hgetall(keys.opsAlerts));
  const out: OpsAlert[] = [];
  const stale: string[] = [];
  for (const [fingerprint, text] of all) {
    let a: OpsAlert;
    try {
      a = JSON.parse(text) as OpsAlert;
    } catch {
      stale.push(fingerprint);
      continue;
    }
    if (now - Date.parse(a.received_at) > STALE_MS) stale.push(fingerprint);
    else out.push(a);
  }
  if (stale.length > 0) await redis.hdel(keys.opsAlerts, ...stale);
  const rank = (s: string) => (s === "critical" ? 0 : s === "warning" ? 1 : 2);
  return out.sort((a, b) => rank(a.severity) - rank(b.severity) || a.starts_at.localeCompare(b.starts_at));
}
