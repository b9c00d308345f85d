import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "@seatdrop/config";

describe("configuration", () => {
  it("names each bad variable, and never prints a secret or a URL's password", () => {
    let message = "";
    try {
      loadConfig({ JWT_SECRET: "short-s3cret", HOLD_TTL_MS: "abc", DATABASE_URL: "postgres//app:hunter2@db:5432/x", WS_PORTS: "4000,nope" });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toContain("JWT_SECRET=(hidden, 12 characters): must be at least 16 characters");
    expect(message).toContain('HOLD_TTL_MS="abc"');
    expect(message).toContain("WS_PORTS=");
    expect(message).toContain("DATABASE_URL=\"postgres//app:***@db:5432/x\"");
    expect(message).not.toContain("short-s3cret");
    expect(message).not.toContain("hunter2");
  });

  it("requires the secrets in production", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/JWT_SECRET is required/);
  });

  it("with JWKS_URL in production, still requires JWT_SECRET (the cluster's own tokens must verify on every process)", () => {
    const env = { NODE_ENV: "production", JWKS_URL: "https://idp.example/.well-known/jwks.json", SERVICE_SECRET: "s".repeat(40), ADMIN_PASSWORD: "p".repeat(10), PAYMENT_WEBHOOK_SECRET: "w".repeat(40), METRICS_TOKEN: "m".repeat(40) };
    expect(() => loadConfig({ ...env })).toThrow(/JWT_SECRET is required when NODE_ENV=production, also with JWKS_URL/);
    expect(loadConfig({ ...env, JWT_SECRET: "j".repeat(40) }).JWT_SECRET).toBe("j".repeat(40));
    const refusal = (() => {
      try {
        loadConfig({ ...env });
        return "none";
      } catch (e) {
        return String((e as Error).message).split("\n").find((l) => l.includes("JWT_SECRET")) ?? "";
      }
    })();
    console.log(`config: production, JWKS_URL and no JWT_SECRET refused at load: "${refusal.trim()}"; with JWT_SECRET it loads`);
  });

  it("production refuses placeholder and short secrets, naming the variable", () => {
    const good = { NODE_ENV: "production", JWT_SECRET: "j".repeat(40), SERVICE_SECRET: "s".repeat(40), ADMIN_PASSWORD: "a real admin password", PAYMENT_WEBHOOK_SECRET: "w".repeat(40), METRICS_TOKEN: "m".repeat(40) };
    expect(loadConfig({ ...good }).NODE_ENV).toBe("production");
    // The values docker-compose.yml used to ship.
    expect(() => loadConfig({ ...good, JWT_SECRET: "change-me-change-me-change-me-0001" })).toThrow(/^JWT_SECRET is a placeholder/);
    expect(() => loadConfig({ ...good, METRICS_TOKEN: "change-me-metrics-token-0001" })).toThrow(/^METRICS_TOKEN is a placeholder/);
    expect(() => loadConfig({ ...good, ADMIN_PASSWORD: "change-me-admin-password" })).toThrow(/^ADMIN_PASSWORD is a placeholder/);
    expect(() => loadConfig({ ...good, SERVICE_SECRET: "s".repeat(31) })).toThrow(/^SERVICE_SECRET is 31 bytes; production needs at least 32/);
    expect(() => loadConfig({ ...good, PAYMENT_WEBHOOK_SECRET: "webhook-secret-webhook-secret" })).toThrow(/^PAYMENT_WEBHOOK_SECRET is 29 bytes/);
    // Development keeps working with short ones (its generated secrets are random anyway).
    expect(loadConfig({ ...good, NODE_ENV: "development", JWT_SECRET: "sixteen-chars-ok" }).JWT_SECRET).toBe("sixteen-chars-ok");
  });

  it("TRUSTED_PROXIES takes addresses and CIDR blocks, and names what is neither", () => {
    expect(loadConfig({ TRUSTED_PROXIES: "10.89.0.10, fd00::/8,127.0.0.0/8" }).TRUSTED_PROXIES).toEqual(["10.89.0.10", "fd00::/8", "127.0.0.0/8"]);
    expect(loadConfig({ TRUSTED_PROXIES: "" }).TRUSTED_PROXIES).toEqual([]);
    expect(() => loadConfig({ TRUSTED_PROXIES: "10.0.0.0/33,haproxy,10.0.0.1" })).toThrow(/TRUSTED_PROXIES.*not an IP address or CIDR block: 10\.0\.0\.0\/33, haproxy/);
  });

  it("fills defaults", () => {
    const c = loadConfig({ JWT_SECRET: "x".repeat(20), SERVICE_SECRET: "s".repeat(10), ADMIN_PASSWORD: "p".repeat(10), PAYMENT_WEBHOOK_SECRET: "w".repeat(20) });
    expect(c).toMatchObject({ API_PORT: 3000, WS_PORTS: [4000, 4001], HOLD_TTL_MS: 600_000, HOLD_MAX_SEATS: 10, REDIS_PREFIX: "sdc" });
  });
});
