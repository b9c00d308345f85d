import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { buildApp, type ApiApp } from "../src/app.ts";
import { scriptJson } from "../src/routes/pages.ts";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

/**
 * docs/reliability.md, round one, finding 6: the seat-map page wrote the `Host` header into its
 * inline script unescaped, and `X-Forwarded-Host` from a private address chose the WebSocket URL
 * the page sends its token to. Now nothing from the request reaches the page; the URL comes from
 * PUBLIC_WS_URL or the browser's own location.
 */

let env: TestEnv;
let app: ApiApp;
beforeAll(async () => {
  env = await createTestEnv();
  app = buildApp({ config: env.config, db: env.db, redis: env.redis, keys: env.keys, logger: createLogger("page-test", "silent") });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await env.close();
});

/** Runs the page's first inline (non-module) script as a browser on `location` would, and returns what it set. */
function wsUrlOf(html: string, location: { protocol: string; hostname: string }): unknown {
  const m = /<script>([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error("no inline script in the page");
  const window: Record<string, unknown> = {};
  runInNewContext(m[1]!, { window, location });
  return window.SEATDROP_WS_URL;
}

/** Figures of the last run, printed as one line. */
const figures: string[] = [];

describe("the seat-map page", () => {
  afterAll(() => console.log(`seat-map page: ${figures.join("; ")}`));
  it("a hostile Host header is not written into the page", async () => {
    const res = await app.inject({ method: "GET", url: "/", headers: { host: "x</script><script>alert(1)</script>" } });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain("alert(1)");
    const plain = (await app.inject({ method: "GET", url: "/" })).body;
    expect(res.body.match(/<script/g)?.length).toBe(plain.match(/<script/g)?.length);
    expect(res.body).toBe(plain);
    figures.push(`hostile Host: ${res.body.match(/<script/g)?.length} <script> tags as without it, page ${res.body === plain ? "byte-identical" : "different bytes"}`);
  });

  it("X-Forwarded-Host from a trusted private address does not choose the WebSocket URL", async () => {
    const res = await app.inject({ method: "GET", url: "/", remoteAddress: "10.0.0.7", headers: { host: "tickets.example", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" } });
    expect(res.body).not.toContain("evil.example");
    // The browser derives the URL from where it loaded the page, not from any header.
    expect(wsUrlOf(res.body, { protocol: "https:", hostname: "tickets.example" })).toBe(`wss://tickets.example:${env.config.WS_PORTS[0]}/socket`);
    expect(wsUrlOf(res.body, { protocol: "http:", hostname: "127.0.0.1" })).toBe(`ws://127.0.0.1:${env.config.WS_PORTS[0]}/socket`);
    figures.push(`X-Forwarded-Host evil.example from 10.0.0.7: in the page ${res.body.split("evil.example").length - 1}×, page on https://tickets.example connects to ${String(wsUrlOf(res.body, { protocol: "https:", hostname: "tickets.example" }))}`);
  });

  it("the same bytes for every request: hostile Host, X-Forwarded-Host and -Proto, from a trusted proxy or not", async () => {
    const hostile: { remoteAddress?: string; headers: Record<string, string> }[] = [
      { headers: { host: "x</script><script>alert(1)</script>" } },
      { headers: { host: "evil.example:4000" } },
      { headers: { "x-forwarded-host": "evil.example" } },
      { remoteAddress: "10.0.0.7", headers: { host: "tickets.example", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" } },
      { remoteAddress: "10.0.0.7", headers: { "x-forwarded-host": "a\"><script>alert(3)</script>", "x-forwarded-proto": "javascript", "x-forwarded-for": "203.0.113.9" } },
      { remoteAddress: "203.0.113.5", headers: { host: "tickets.example", "x-forwarded-host": "evil.example", forwarded: "host=evil.example;proto=https" } },
    ];
    const pageOf = async (a: ApiApp, url: string, r: (typeof hostile)[number] = { headers: {} }) => {
      const res = await a.inject({ method: "GET", url, ...(r.remoteAddress ? { remoteAddress: r.remoteAddress } : {}), headers: r.headers });
      expect(res.statusCode).toBe(200);
      return res.body;
    };
    let compared = 0;
    for (const url of ["/", "/seats"]) {
      const plain = await pageOf(app, url);
      for (const r of hostile) {
        expect(await pageOf(app, url, r)).toBe(plain);
        compared++;
      }
    }
    // With PUBLIC_WS_URL set, too: the configured URL, never the request's.
    const env2 = await createTestEnv({ PUBLIC_WS_URL: "wss://lb.example/socket" });
    const app2 = buildApp({ config: env2.config, db: env2.db, redis: env2.redis, keys: env2.keys, logger: createLogger("page-test", "silent") });
    try {
      const plain = await pageOf(app2, "/");
      for (const r of hostile) {
        expect(await pageOf(app2, "/", r)).toBe(plain);
        compared++;
      }
    } finally {
      await app2.close();
      await env2.close();
    }
    figures.push(`${compared} requests with ${hostile.length} sets of hostile headers (/, /seats, and with PUBLIC_WS_URL): every page byte-identical to the plain request's`);
  });

  it("PUBLIC_WS_URL is the URL, escaped, whatever the request says", async () => {
    const url = "wss://lb.example/socket?x=</script><script>alert(2)</script>";
    const env2 = await createTestEnv({ PUBLIC_WS_URL: url });
    const app2 = buildApp({ config: env2.config, db: env2.db, redis: env2.redis, keys: env2.keys, logger: createLogger("page-test", "silent") });
    try {
      const res = await app2.inject({ method: "GET", url: "/", headers: { "x-forwarded-host": "evil.example" } });
      expect(res.body).not.toContain("alert(2)</script>");
      expect(wsUrlOf(res.body, { protocol: "http:", hostname: "evil.example" })).toBe(url);
      figures.push(`PUBLIC_WS_URL with </script> in it: written unescaped ${res.body.split("alert(2)</script>").length - 1}×, read back ${wsUrlOf(res.body, { protocol: "http:", hostname: "evil.example" }) === url ? "exactly" : "changed"}`);
    } finally {
      await app2.close();
      await env2.close();
    }
  });

  it("scriptJson cannot be broken out of, and reads back exactly", () => {
    const values = ["</script><script>alert(1)</script>", "<!-- x", "a\u2028b\u2029c", "&amp;", { a: "</SCRIPT>" }];
    for (const v of values) {
      const s = scriptJson(v);
      expect(s).not.toMatch(/[<>&\u2028\u2029]/);
      expect(runInNewContext(`(${s})`)).toEqual(v);
    }
    figures.push(`scriptJson: ${values.length} hostile values escaped and read back equal`);
  });
});
