import { Writable } from "node:stream";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { events, orders, tickets, users } from "@seatdrop/db";
import { buildApp } from "../src/app.ts";
import { createLogger } from "@seatdrop/observability";
import { adminToken, bearer, signUp, startApi, type ApiHarness } from "./api-harness.ts";

/**
 * docs/reliability.md, round one, finding 7: bad input answers a 4xx naming what was wrong, never a
 * 500, and a logged database error carries no bound parameters. Ends with a bounded fuzz over every
 * route of the OpenAPI document.
 */

let h: ApiHarness;
let admin: string;
beforeAll(async () => {
  h = await startApi();
  admin = await adminToken(h);
});
afterAll(async () => {
  await h.close();
});

describe("the 500s of finding 7", () => {
  it("a huge offset is a 422 naming offset, on the event list and on notifications", async () => {
    const list = await h.app.inject({ method: "GET", url: "/api/events?offset=99999999999999999999" });
    expect(list.statusCode).toBe(422);
    expect(list.json()).toMatchObject({ error: "validation_failed", errors: [{ field: "offset" }] });
    const mine = await h.app.inject({ method: "GET", url: "/api/users/me/notifications?offset=99999999999999999999", headers: bearer(admin) });
    expect(mine.statusCode).toBe(422);
    expect(mine.json()).toMatchObject({ error: "validation_failed", errors: [{ field: "offset" }] });
  });

  it("U+0000 in an email at sign-in and sign-up is a 422 naming the field", async () => {
    const signIn = await h.app.inject({ method: "POST", url: "/api/users/sign_in", payload: { email: "a\u0000@example.com", password_hash: "whatever-password" } });
    expect(signIn.statusCode).toBe(422);
    expect(signIn.json()).toMatchObject({ error: "validation_failed", errors: [{ field: "email" }] });
    const up = await signUp(h.app, { username: "nul_user", email: "nul\u0000@example.com", password: "long enough password" });
    expect(up.status).toBe(422);
    expect(up.body.errors?.map((e) => e.field)).toContain("user_params.email");
  });

  it("U+0000 in a ticket number (create, and anywhere in a body) is a 422", async () => {
    const [ev] = await h.env.db.db.insert(events).values({ name: "e", description: "d", location: "l", startTime: new Date(Date.now() + 86_400_000), endTime: new Date(Date.now() + 90_000_000) }).returning();
    const res = await h.app.inject({ method: "POST", url: "/api/tickets/create", headers: bearer(admin), payload: { ticket: { ticket_number: "12\u000034", event_id: ev!.id } } });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ errors: [{ field: "ticket.ticket_number" }] });
  });

  it("deleting a user who has orders is a 409 user_has_orders, and the user stays", async () => {
    const { body } = await signUp(h.app, { username: "buyer_with_orders", email: "buyer-orders@example.com", password: "long enough password" });
    const [ev] = await h.env.db.db.insert(events).values({ name: "e2", description: "d", location: "l", startTime: new Date(Date.now() + 86_400_000), endTime: new Date(Date.now() + 90_000_000) }).returning();
    await h.env.db.db.insert(orders).values({ userId: body.user.id, eventId: ev!.id, totalCents: 1000, expiresAt: new Date(Date.now() + 60_000) });
    const res = await h.app.inject({ method: "DELETE", url: `/api/users/delete_user/${body.user.id}`, headers: bearer(body.token) });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ error: "user_has_orders", message: expect.any(String) });
    const still = await h.env.db.db.select({ id: users.id }).from(users).where(sql`${users.id} = ${body.user.id}`);
    expect(still).toHaveLength(1);
  });
});

/** A logger writing to memory, as the apps' loggers write to stdout. */
function logSink() {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, done) => void (lines.push(String(chunk)), done()) });
  return { lines, logger: createLogger("bad-input-test", "info", sink), text: () => lines.join("") };
}

/** The error a real query throws. */
async function failure(query: () => PromiseLike<unknown>): Promise<Error & { cause?: unknown }> {
  try {
    await query();
  } catch (e) {
    return e as Error;
  }
  throw new Error("the query did not fail");
}

describe("logged database errors", () => {
  it("carry the SQL and PostgreSQL's code, never the bound parameters", async () => {
    const secret = "very-secret-parameter@example.com";
    let err: unknown;
    try {
      // A real failing query through drizzle: the cast makes PostgreSQL refuse the bound value.
      await h.env.db.db.execute(sql`select ${secret}::int as n`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toContain(secret); // drizzle prints it: the logger must not
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => void (lines.push(String(chunk)), done()) });
    const logger = createLogger("bad-input-test", "info", sink);
    logger.child({ module: "x" }).error({ err }, "query failed");
    await new Promise((r) => setImmediate(r));
    const text = lines.join("");
    expect(text).toContain("query failed");
    expect(text).toContain("22P02"); // invalid_text_representation, from the cause
    expect(text).not.toContain(secret);
    const count = (s: string, part: string) => s.split(part).length - 1;
    console.log(`logged database error: the bound parameter ${count(String((err as Error).message), secret)}× in drizzle's message, ${count(text, secret)}× in the logged line (${text.length} bytes: code 22P02 ${count(text, "22P02")}×, SQL with placeholder $1 ${count(text, "$1::int")}×)`);
  });

  it("a constraint violation: PostgreSQL's detail and the values quoted in its messages are redacted, its names kept", async () => {
    const { lines, logger, text } = logSink();
    const [ev] = await h.env.db.db.insert(events).values({ name: "e3", description: "d", location: "l", startTime: new Date(Date.now() + 86_400_000), endTime: new Date(Date.now() + 90_000_000) }).returning();
    // A ticket number that looks like a name: a value must not pass for an identifier.
    const number = `secretticket${Date.now()}`;
    await h.env.db.db.insert(tickets).values({ eventId: ev!.id, ticketNumber: number });
    const dup = await failure(() => h.env.db.db.insert(tickets).values({ eventId: ev!.id, ticketNumber: number }));
    const dupCause = dup.cause as { code?: string; detail?: string };
    expect(dupCause.code).toBe("23505");
    expect(dupCause.detail).toContain(number); // `Key (ticket_number)=(…) already exists.`
    logger.error({ err: dup }, "insert failed");
    // A value PostgreSQL quotes in its own message, which also looks like a name.
    const name = "alice_secret";
    const cast = await failure(() => h.env.db.db.execute(sql`select ${name}::int as n`));
    expect(String((cast.cause as Error).message)).toContain(`"${name}"`);
    logger.error({ err: cast }, "query failed");
    await new Promise((r) => setImmediate(r));
    const logged = text();
    expect(lines).toHaveLength(2);
    expect(logged).not.toContain(number);
    expect(logged).not.toContain(name);
    expect(logged).not.toContain("detail");
    expect(logged).not.toContain("already exists");
    const [dupLine, castLine] = lines.map((l) => JSON.parse(l) as { err: { cause: { code: string; constraint_name?: string; message: string } } });
    expect(dupLine!.err.cause).toMatchObject({ code: "23505", constraint_name: "tickets_number_key", message: 'duplicate key value violates unique constraint "tickets_number_key"' });
    expect(castLine!.err.cause).toMatchObject({ code: "22P02", message: 'invalid input syntax for type integer: "[redacted]"' });
    const count = (part: string) => logged.split(part).length - 1;
    console.log(
      `logged constraint violation: the value ${dupCause.detail!.split(number).length - 1}× in PostgreSQL's detail, ${count(number)}× logged (code 23505 and constraint tickets_number_key kept, detail dropped); a name-like value quoted by PostgreSQL 1× in its message, ${count(name)}× logged ("[redacted]" ${count("[redacted]")}×)`,
    );
  });

  it("a client's request id is logged only when short and plain (≤ 64 of [A-Za-z0-9._-]); any other is replaced", async () => {
    const { lines, logger } = logSink();
    const app = buildApp({ config: h.env.config, db: h.env.db, redis: h.env.redis, keys: h.env.keys, logger });
    await app.ready();
    try {
      const huge = "x".repeat(12_000);
      const sent = ["order-42.retry_1", huge, "a b", "line\nbreak", "é", "y".repeat(65)];
      // Not /healthz: probes are logged at debug only (plugins/access-log.ts).
      for (const id of sent) expect((await app.inject({ method: "GET", url: "/api/events", headers: { "x-request-id": id } })).statusCode).toBe(200);
      await new Promise((r) => setImmediate(r));
      const ids = lines.map((l) => (JSON.parse(l) as { reqId?: string }).reqId).filter((x): x is string => x !== undefined);
      expect(ids).toContain("order-42.retry_1");
      for (const bad of sent.slice(1)) expect(ids).not.toContain(bad);
      expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(2_000);
      expect(ids.every((id) => /^[A-Za-z0-9._-]{1,64}$/.test(id))).toBe(true);
      console.log(`request ids: ${sent.length} sent (one plain, one of 12,000 bytes, four odd); logged ${new Set(ids).size} distinct, the longest line ${Math.max(...lines.map((l) => l.length))} bytes`);
    } finally {
      await app.close();
    }
  });

  it("request logs carry the path without the query string, the API's error lines too", async () => {
    const { lines, logger } = logSink();
    const app = buildApp({ config: h.env.config, db: h.env.db, redis: h.env.redis, keys: h.env.keys, logger });
    const [ev] = await h.env.db.db.insert(events).values({ name: "e4", description: "d", location: "l", startTime: new Date(Date.now() + 86_400_000), endTime: new Date(Date.now() + 90_000_000) }).returning();
    const number = `T-${Date.now()}`;
    await h.env.db.db.insert(tickets).values({ eventId: ev!.id, ticketNumber: number });
    // A route of this test only: a real constraint violation, answered by the API's own error handler.
    app.get("/test-only/duplicate-ticket", async () => h.env.db.db.insert(tickets).values({ eventId: ev!.id, ticketNumber: number }));
    await app.ready();
    try {
      const secret = "someone@example.com";
      const list = await app.inject({ method: "GET", url: `/api/events?limit=5&email=${encodeURIComponent(secret)}` });
      expect(list.statusCode).toBe(200);
      const failed = await app.inject({ method: "GET", url: `/test-only/duplicate-ticket?email=${encodeURIComponent(secret)}&ticket_number=${number}` });
      expect(failed.statusCode).toBe(500);
      await new Promise((r) => setImmediate(r));
      const parsed = lines.map((l) => JSON.parse(l) as { msg: string; url?: string; req?: { url?: string }; err?: { cause?: { code?: string } } });
      // One access line per request (plugins/access-log.ts), its `url` the path alone.
      const incoming = parsed.filter((l) => l.msg === "request").map((l) => l.url);
      expect(incoming).toEqual(["/api/events", "/test-only/duplicate-ticket"]);
      const errorLine = parsed.find((l) => l.msg === "request failed");
      expect(errorLine).toMatchObject({ url: "/test-only/duplicate-ticket", err: { cause: { code: "23505" } } });
      const logged = lines.join("");
      for (const part of [secret, encodeURIComponent(secret), number, "email="]) expect(logged).not.toContain(part);
      console.log(
        `request logs: ${lines.length} lines for 2 requests with an email in the query string (one failing with 23505): URLs logged ${[...incoming, errorLine!.url].join(", ")}; the email ${logged.split(secret).length - 1 + logged.split(encodeURIComponent(secret)).length - 1}×, the ticket number ${logged.split(number).length - 1}×, "email=" ${logged.split("email=").length - 1}×`,
      );
    } finally {
      await app.close();
    }
  });
});

describe("fuzz over the OpenAPI routes", () => {
  /** Values that broke or could break a route: huge and odd numbers, NUL, wrong types, long strings. */
  const nasty: unknown[] = [
    "99999999999999999999", 99999999999999999999, -1, 1.5, "\u0000", "a\u0000b", "", " ", "x".repeat(5000), true, null, {}, [],
    "00000000-0000-0000-0000-000000000000", "not-a-uuid", "'; drop table users; --", "\ud800", "1e309", "NaN",
  ];

  it("no route answers 5xx to mutated params, query or body fields", async () => {
    const doc = (await h.app.inject({ method: "GET", url: "/openapi.json" })).json() as {
      paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; requestBody?: { content?: Record<string, { schema?: unknown }> } }>>;
    };
    const failures: string[] = [];
    let requests = 0;
    const uuid = "00000000-0000-4000-8000-000000000000";
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        if (path === "/api/admin/rebuild-seats") continue; // queues a job on a worker this test has not got
        const params = (op.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name);
        const query = (op.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name);
        const bodySchema = op.requestBody?.content?.["application/json"]?.schema;
        const bodyFields = topFields(bodySchema);
        const urlWith = (pv: Record<string, string>, q: Record<string, string>) => {
          const p = path.replace(/\{(\w+)\}/g, (_m, n: string) => encodeURIComponent(pv[n] ?? uuid));
          const qs = new URLSearchParams(q).toString();
          return qs ? `${p}?${qs}` : p;
        };
        const cases: { url: string; payload?: unknown }[] = [];
        for (const v of nasty) {
          // A lone surrogate cannot be written into a URL at all; it is fuzzed in bodies only.
          const inUrl = v !== "\ud800";
          if (inUrl) for (const n of params) cases.push({ url: urlWith({ [n]: String(v) }, {}) });
          if (inUrl) for (const n of query) cases.push({ url: urlWith({}, { [n]: String(v) }) });
          if (bodySchema !== undefined) {
            cases.push({ url: urlWith({}, {}), payload: v });
            for (const f of bodyFields) cases.push({ url: urlWith({}, {}), payload: setPath(exampleBody(bodySchema), f, v) });
          }
        }
        for (const c of cases) {
          requests++;
          const res = await h.app.inject({
            method: method.toUpperCase() as "GET",
            url: c.url,
            headers: { ...bearer(admin), ...(c.payload !== undefined ? { "content-type": "application/json" } : {}) },
            ...(c.payload !== undefined ? { payload: JSON.stringify(c.payload) } : {}),
          });
          if (res.statusCode >= 500) failures.push(`${method.toUpperCase()} ${c.url} ${JSON.stringify(c.payload)?.slice(0, 80)} → ${res.statusCode} ${res.body.slice(0, 120)}`);
        }
      }
    }
    expect(requests).toBeGreaterThan(500);
    expect(failures).toEqual([]);
  }, 120_000);
});

type JsonSchema = { type?: string; properties?: Record<string, JsonSchema>; items?: JsonSchema; examples?: unknown[]; format?: string; anyOf?: JsonSchema[] };

/** Dotted paths of the properties of a body schema, two levels deep (the chat service's routes wrap bodies: `user_params.email`). */
function topFields(schema: unknown): string[] {
  const s = schema as JsonSchema | undefined;
  if (!s?.properties) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(s.properties)) {
    out.push(k);
    if (v.properties) for (const k2 of Object.keys(v.properties)) out.push(`${k}.${k2}`);
  }
  return out;
}

/** A plausible body from the schema, so one mutated field is the only thing wrong. */
function exampleBody(schema: unknown): unknown {
  const s = schema as JsonSchema;
  if (s.examples?.length) return s.examples[0];
  if (s.properties) return Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, exampleBody(v)]));
  if (s.type === "array") return [];
  if (s.type === "integer" || s.type === "number") return 1;
  if (s.type === "boolean") return true;
  if (s.format === "uuid") return "00000000-0000-4000-8000-000000000000";
  if (s.format === "date-time") return "2030-01-01T00:00:00Z";
  return "value";
}

function setPath(body: unknown, path: string, value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(body ?? {})) as Record<string, unknown>;
  const parts = path.split(".");
  let at: Record<string, unknown> = copy;
  for (const p of parts.slice(0, -1)) {
    if (typeof at[p] !== "object" || at[p] === null) at[p] = {};
    at = at[p] as Record<string, unknown>;
  }
  at[parts.at(-1)!] = value;
  return copy;
}
