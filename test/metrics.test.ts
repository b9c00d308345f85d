import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { buildApp, type ApiApp } from "../apps/api/src/app.ts";
import { startWorkerProbes, type WorkerProbes } from "../apps/worker/src/probes.ts";
import type { WorkerHandle } from "../apps/worker/src/worker.ts";
import { PhxClient, createEvent, createUser, push, seatIdsGrid } from "./support/cluster.ts";
import { useCluster } from "./support/use-cluster.ts";
import { EXPORTER_METRICS, RUNBOOKS, alertRules, dashboard, metricsIn, queries } from "./support/dashboard-queries.ts";
import { postWebhook } from "../apps/api/test/orders-harness.ts";
import { createChatEvent, issueTicket, syncEventRoom } from "../apps/ws-node/test/chat-support.ts";

/**
 * Every app's /metrics (behind METRICS_TOKEN), each with its own metrics only; labelled counters
 * start at 0; and every metric and label the Grafana dashboard and the alert rules use is exported
 * by some app (or an exporter), so no panel or alert reads a series that cannot exist; the
 * dashboard's rows, variables and legends; every alert's runbook in docs/runbooks.md.
 */

const world = useCluster({}, { nodes: 1 });
let api: ApiApp;
let workerProbes: WorkerProbes;
let startingProbes: WorkerProbes;
const clients: PhxClient[] = [];

beforeAll(async () => {
  const logger = createLogger("test", "silent");
  const { env } = world;
  api = buildApp({ config: env.config, db: env.db, redis: env.redis, keys: env.keys, logger });
  await api.ready();
  const worker = world.cluster.worker as WorkerHandle;
  workerProbes = await startWorkerProbes({ config: env.config, logger, redis: env.redis, db: env.db, worker: () => worker, port: 0 });
  startingProbes = await startWorkerProbes({ config: env.config, logger, redis: env.redis, db: env.db, worker: () => undefined, port: 0 });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.disconnect()));
  await workerProbes?.close();
  await startingProbes?.close();
  await api?.close();
});

const auth = () => ({ authorization: `Bearer ${world.env.config.METRICS_TOKEN}` });
async function scrape(app: "api" | "worker" | "ws-node", headers: Record<string, string> = auth()): Promise<{ status: number; text: string }> {
  if (app === "api") {
    const r = await api.inject({ method: "GET", url: "/metrics", headers });
    return { status: r.statusCode, text: r.body };
  }
  const port = app === "worker" ? workerProbes.port : world.cluster.nodes[0]!.port;
  const r = await fetch(`http://127.0.0.1:${port}/metrics`, { headers });
  return { status: r.status, text: await r.text() };
}

/** metric name → the label names its series carry, from a text exposition. */
function series(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? /.exec(line);
    if (!m) continue;
    const labels = out.get(m[1]!) ?? new Set<string>();
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(l[1]!);
    out.set(m[1]!, labels);
  }
  return out;
}

describe("/metrics of every app", () => {
  it("answers only the metrics token, on every app", async () => {
    for (const app of ["api", "worker", "ws-node"] as const) {
      expect((await scrape(app, {})).status, app).toBe(401);
      expect((await scrape(app, { authorization: "Bearer not-the-token-at-all" })).status, app).toBe(401);
      const ok = await scrape(app);
      expect(ok.status, app).toBe(200);
      expect(ok.text, app).toContain("process_cpu_seconds_total");
    }
  });

  it("each app exports its own metrics, not the others' as zeros", async () => {
    const [apiText, workerText, wsText] = await Promise.all([scrape("api"), scrape("worker"), scrape("ws-node")]).then((r) => r.map((x) => x.text));
    expect(apiText).toContain("sdc_http_requests_total");
    expect(apiText).not.toContain("sdc_ws_");
    expect(apiText).not.toContain("sdc_queue_");
    expect(workerText).toContain("sdc_queue_jobs");
    expect(workerText).toContain("sdc_hold_expiry_lag_seconds");
    expect(workerText).not.toContain("sdc_ws_");
    expect(workerText).not.toContain("sdc_http_requests_total");
    expect(wsText).toContain("sdc_ws_frames_in_total");
    expect(wsText).toContain("sdc_ws_draining");
    expect(wsText).not.toContain("sdc_http_requests_total");
    expect(wsText).not.toContain("sdc_queue_");
  });

  it("labelled counters start at 0, and a malformed payload is counted", async () => {
    const before = (await scrape("ws-node")).text;
    for (const reason of ["malformed_frame", "malformed_payload", "rate_limited", "not_joined", "unsupported_event"])
      expect(before, reason).toMatch(new RegExp(`^sdc_ws_frame_errors_total\\{reason="${reason}"\\} \\d+$`, "m"));
    expect(before).toMatch(/^sdc_seat_ops_total\{op="lockSeat",result="already_locked"\} \d+$/m);
    expect(before).toMatch(/^sdc_holds_released_total\{path="sweep",reason="expired"\} \d+$/m);
    const count = (text: string) => Number(/^sdc_ws_frame_errors_total\{reason="malformed_payload"\} (\d+)$/m.exec(text)![1]);

    const eventId = await createEvent(world.env, seatIdsGrid(1, 3));
    const u = await createUser(world.env);
    const c = new PhxClient(world.cluster.nodes[0]!.port, u.token);
    clients.push(c);
    const { channel } = await c.join(`seats:${eventId}`);
    expect(await push(channel, "lock", { seat: "no spaces allowed" })).toMatchObject({ status: "error", response: { reason: "malformed_payload" } });
    expect(count((await scrape("ws-node")).text)).toBe(count(before) + 1);

    // A lock is published and delivered back to this node: its fan-out lag is observed.
    const lagCount = (text: string) => Number(/^sdc_fanout_lag_seconds_count (\d+)$/m.exec(text)![1]);
    const lagBefore = lagCount((await scrape("ws-node")).text);
    expect(await push(channel, "lock", { seat: "A_1" })).toMatchObject({ status: "ok" });
    await vi.waitFor(
      async () => {
        if (lagCount((await scrape("ws-node")).text) <= lagBefore) throw new Error("the lock's fan-out lag was not observed");
      },
      { timeout: 5000, interval: 50 },
    );
  });

  it("the worker's /healthz and /readyz say 503 while it starts, 200 once it runs", async () => {
    for (const path of ["/healthz", "/readyz"]) {
      const starting = await fetch(`http://127.0.0.1:${startingProbes.port}${path}`);
      expect(starting.status, path).toBe(503);
      expect(await starting.json()).toMatchObject({ status: "starting" });
      const running = await fetch(`http://127.0.0.1:${workerProbes.port}${path}`);
      expect(running.status, path).toBe(200);
    }
  });
});

/** A series' value in an exposition (`labels` as written, e.g. `state="paid"`); throws when absent. */
function value(text: string, name: string, labels = ""): number {
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const m = new RegExp(`^${esc(name)}${labels ? `\\{${esc(labels)}\\}` : ""} (\\S+)$`, "m").exec(text);
  if (!m) throw new Error(`${name}{${labels}} is not exported`);
  return Number(m[1]);
}

describe("what a drop is watched by moves on real actions", () => {
  it("orders by state and webhook outcomes (API)", async () => {
    const before = (await scrape("api")).text;
    for (const state of ["pending", "paid", "expired", "canceled", "refunded"]) expect(value(before, "sdc_orders_total", `state="${state}"`), state).toBeGreaterThanOrEqual(0);
    const eventId = await createEvent(world.env, seatIdsGrid(1, 4));
    const u = await createUser(world.env);
    const c = new PhxClient(world.cluster.nodes[0]!.port, u.token);
    clients.push(c);
    const { channel } = await c.join(`seats:${eventId}`);
    expect(await push(channel, "lock", { seat: "A_1" })).toMatchObject({ status: "ok" });
    const headers = { authorization: `Bearer ${u.token}` };
    const created = await api.inject({ method: "POST", url: "/api/orders", headers, payload: { event_id: eventId } });
    expect(created.statusCode).toBe(201);
    const order = created.json() as { id: string };
    const secret = world.env.config.PAYMENT_WEBHOOK_SECRET;
    const body = { payment_id: `pay_metrics_${order.id}`, order_id: order.id, amount: 10, currency: "EUR", status: "succeeded" };
    expect((await postWebhook(api, secret, body)).json()).toMatchObject({ result: "paid", duplicate: false });
    expect((await postWebhook(api, secret, body)).json()).toMatchObject({ duplicate: true });
    expect((await postWebhook(api, secret, body, { signature: "t=1,v1=00" })).statusCode).toBe(400);
    expect((await postWebhook(api, secret, { ...body, amount: "ten" })).statusCode).toBe(422);

    // A second order, canceled by its buyer.
    expect(await push(channel, "lock", { seat: "A_2" })).toMatchObject({ status: "ok" });
    const second = (await api.inject({ method: "POST", url: "/api/orders", headers, payload: { event_id: eventId } })).json() as { id: string };
    expect((await api.inject({ method: "POST", url: `/api/orders/${second.id}/cancel`, headers })).statusCode).toBe(200);

    const after = (await scrape("api")).text;
    const moved = (name: string, labels: string) => value(after, name, labels) - value(before, name, labels);
    expect(moved("sdc_orders_total", 'state="pending"')).toBe(2);
    expect(moved("sdc_orders_total", 'state="paid"')).toBe(1);
    expect(moved("sdc_orders_total", 'state="canceled"')).toBe(1);
    expect(moved("sdc_orders_total", 'state="refunded"')).toBe(0);
    expect(moved("sdc_payment_webhooks_total", 'result="paid"')).toBe(1);
    expect(moved("sdc_payment_webhooks_total", 'result="duplicate"')).toBe(1);
    expect(moved("sdc_payment_webhooks_total", 'result="timestamp_out_of_range"')).toBe(1);
    expect(moved("sdc_payment_webhooks_total", 'result="malformed"')).toBe(1);
    expect(moved("sdc_payment_webhooks_total", 'result="payment_failed"')).toBe(0);
  });

  it("refused joins by channel and reason (ws-node)", async () => {
    const before = (await scrape("ws-node")).text;
    const joins = (text: string, channel: string, reason: string) => value(text, "sdc_joins_refused_total", `channel="${channel}",reason="${reason}"`);
    const anon = new PhxClient(world.cluster.nodes[0]!.port);
    clients.push(anon);
    const u = await createUser(world.env);
    const c = new PhxClient(world.cluster.nodes[0]!.port, u.token);
    clients.push(c);
    const refused = (p: Promise<unknown>) => p.then(() => { throw new Error("the join should have been refused"); }, () => undefined);
    await refused(c.join("seats:00000000-0000-4000-8000-000000000000"));
    await refused(anon.join(`user:${u.id}`));
    const { eventId } = await createChatEvent(world.env);
    expect(await syncEventRoom(world.env, eventId)).toBe("activated");
    await refused(c.join(`event:${eventId}`)); // no ticket
    const after = (await scrape("ws-node")).text;
    expect(joins(after, "seats", "unknown_event") - joins(before, "seats", "unknown_event")).toBe(1);
    expect(joins(after, "user", "unauthorized") - joins(before, "user", "unauthorized")).toBe(1);
    const chatMoved = ["invalid_ticket", "unauthorized", "other"].map((r) => joins(after, "chat", r) - joins(before, "chat", r));
    expect(chatMoved.reduce((a, b) => a + b)).toBe(1);
    expect(joins(after, "seats", "malformed_payload") - joins(before, "seats", "malformed_payload")).toBe(0);
  });

  it("chat messages stored and delivered, and presence on this node (ws-node)", async () => {
    const { eventId } = await createChatEvent(world.env);
    expect(await syncEventRoom(world.env, eventId)).toBe("activated");
    const [alice, bob] = [await createUser(world.env), await createUser(world.env)];
    await issueTicket(world.env, eventId, alice.id);
    await issueTicket(world.env, eventId, bob.id);
    const before = (await scrape("ws-node")).text;
    const port = world.cluster.nodes[0]!.port;
    const [a, b] = [new PhxClient(port, alice.token), new PhxClient(port, bob.token)];
    clients.push(a, b);
    const ja = await a.join(`event:${eventId}`);
    await b.join(`event:${eventId}`);
    await expect.poll(async () => value((await scrape("ws-node")).text, "sdc_chat_presence_online") - value(before, "sdc_chat_presence_online")).toBe(2);
    expect(await push(ja.channel, "new_message", { content: "counted" })).toMatchObject({ status: "ok" });
    // Delivered to the other local member only: the author hears its message as the push's reply.
    await expect.poll(async () => value((await scrape("ws-node")).text, "sdc_chat_deliveries_total") - value(before, "sdc_chat_deliveries_total")).toBe(1);
    const after = (await scrape("ws-node")).text;
    expect(value(after, "sdc_chat_messages_stored_total") - value(before, "sdc_chat_messages_stored_total")).toBe(1);
    await b.disconnect();
    await expect.poll(async () => value((await scrape("ws-node")).text, "sdc_chat_presence_online") - value(before, "sdc_chat_presence_online")).toBe(1);
  });
});

/** Labels Prometheus adds itself, or that histograms carry. */
const PROMETHEUS_LABELS = new Set(["instance", "job", "le"]);
const exporterMetrics = new Set(Object.values(EXPORTER_METRICS).flat());

describe("the Grafana dashboard and the alert rules", () => {
  it("use only metrics and labels some app exports", async () => {
    // Put a series behind every labelled gauge: one open socket, one API request, one scrape of the queues.
    const c = new PhxClient(world.cluster.nodes[0]!.port);
    clients.push(c);
    await c.join(`seats:${await createEvent(world.env, seatIdsGrid(1, 1))}`);
    await api.inject({ method: "GET", url: "/healthz" });
    const exported = new Map<string, Set<string>>();
    for (const app of ["api", "worker", "ws-node"] as const)
      for (const [name, labels] of series((await scrape(app)).text)) exported.set(name, new Set([...(exported.get(name) ?? []), ...labels]));
    exported.set("up", new Set()); // Prometheus's own, per scrape target

    const qs = queries();
    expect(qs.length).toBeGreaterThan(20);
    const problems: string[] = [];
    for (const { where, expr } of qs) {
      const { metrics: all, labels } = metricsIn(expr);
      if (all.length === 0) problems.push(`${where}: no metric in ${expr}`);
      // The exporters' own metrics: HAProxy's are checked against a running HAProxy (test/haproxy.test.ts).
      for (const m of all.filter((n) => /^(redis|pg)_/.test(n))) if (!exporterMetrics.has(m)) problems.push(`${where}: ${m} is not an exporter metric this project knows (EXPORTER_METRICS)`);
      const metrics = all.filter((n) => !/^(redis|pg|haproxy)_/.test(n));
      if (metrics.length === 0) continue;
      for (const metric of metrics) if (!exported.has(metric)) problems.push(`${where}: ${metric} is not exported by any app`);
      const carried = new Set(metrics.flatMap((m) => [...(exported.get(m) ?? [])]));
      for (const l of labels) if (!PROMETHEUS_LABELS.has(l) && !carried.has(l)) problems.push(`${where}: label ${l} is on none of ${metrics.join(", ")}`);
    }
    expect(problems).toEqual([]);
  });

  it("groups the dashboard in rows, with a data source and an instance variable that every app panel uses, and a legend on every query", () => {
    const d = dashboard();
    expect(d.panels.filter((p) => p.type === "row").map((p) => p.title)).toEqual(["Drop", "Fan-out", "Chat", "Queues", "Infrastructure"]);
    const vars = new Map((d.templating?.list ?? []).map((v) => [v.name, v]));
    expect(vars.get("datasource")).toMatchObject({ type: "datasource" });
    expect(vars.get("instance")).toMatchObject({ type: "query", multi: true, includeAll: true });
    const problems: string[] = [];
    for (const p of d.panels.filter((q) => q.type !== "row")) {
      if (p.datasource?.uid !== "${datasource}") problems.push(`panel "${p.title}": datasource ${p.datasource?.uid}`);
      for (const t of p.targets ?? []) {
        if (!t.legendFormat) problems.push(`panel "${p.title}": no legendFormat for ${t.expr}`);
        if (t.datasource?.uid !== "${datasource}") problems.push(`panel "${p.title}": a query's datasource is ${t.datasource?.uid}`);
        // Every series of the apps is filtered by the instance picker.
        for (const m of t.expr.matchAll(/\b(sdc_[a-z0-9_]+)(\{[^}]*\})?/g)) if (!m[2]?.includes('instance=~"$instance"')) problems.push(`panel "${p.title}": ${m[1]} is not filtered by $instance`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("gives every alert a summary and a runbook_url whose section exists in docs/runbooks.md", () => {
    const anchors = new Set([...readFileSync(RUNBOOKS, "utf8").matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^a-z0-9 -]/g, "").replace(/ /g, "-")));
    const rules = alertRules();
    expect(rules.length).toBeGreaterThanOrEqual(18);
    const problems: string[] = [];
    for (const r of rules) {
      if (!r.annotations.summary) problems.push(`${r.alert}: no summary`);
      const url = /^docs\/runbooks\.md#(.+)$/.exec(r.annotations.runbook_url ?? "");
      if (!url) problems.push(`${r.alert}: runbook_url ${r.annotations.runbook_url} is not docs/runbooks.md#…`);
      else if (!anchors.has(url[1]!)) problems.push(`${r.alert}: docs/runbooks.md has no section #${url[1]}`);
    }
    expect(problems).toEqual([]);
  });
});
