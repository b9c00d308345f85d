import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, logFormat } from "../src/index.ts";

/**
 * Logs are human lines for a person at a terminal and JSON for everything that collects them:
 * `LOG_FORMAT=auto` decides by whether stdout is a terminal, never pretty in production.
 */
describe("log format", () => {
  it("auto is pretty at a terminal outside production, JSON otherwise; an explicit choice wins", () => {
    expect(logFormat({ LOG_FORMAT: "auto", NODE_ENV: "development" }, true)).toBe("pretty");
    expect(logFormat({ LOG_FORMAT: "auto", NODE_ENV: "development" }, false)).toBe("json");
    expect(logFormat({ LOG_FORMAT: "auto", NODE_ENV: "production" }, true)).toBe("json");
    expect(logFormat({ LOG_FORMAT: "pretty", NODE_ENV: "production" }, false)).toBe("pretty");
    expect(logFormat({ LOG_FORMAT: "json", NODE_ENV: "development" }, true)).toBe("json");
  });

  it("pretty writes one readable line (time, level, app/module, message); JSON one object", async () => {
    const lines: Record<"pretty" | "json", string[]> = { pretty: [], json: [] };
    for (const format of ["pretty", "json"] as const) {
      const sink = new Writable({
        write(chunk, _enc, done) {
          lines[format].push(String(chunk));
          done();
        },
      });
      createLogger("api", "info", sink, format).child({ module: "http" }).info({ status: 200 }, "request");
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(lines.pretty).toHaveLength(1);
    expect(lines.pretty[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: api\/http: request \{"status":200\}\n$/);
    expect(JSON.parse(lines.json[0]!)).toMatchObject({ app: "api", module: "http", msg: "request", status: 200, level: 30 });
  });
});
