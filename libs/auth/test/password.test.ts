import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPassword, needsRehash, verifyPassword } from "../src/index.ts";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

// Pure functions, but every test file runs inside its own environment so suites never share state.
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

describe("password hashing", () => {
  it("hashes into the self-describing scrypt form and verifies the same password", async () => {
    const stored = await hashPassword("correct horse battery");
    expect(stored).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(stored).not.toContain("correct horse battery");
    expect(await verifyPassword("correct horse battery", stored)).toBe(true);
  });

  it("refuses a wrong password", async () => {
    const stored = await hashPassword("correct horse battery");
    expect(await verifyPassword("correct horse batterY", stored)).toBe(false);
    expect(await verifyPassword("", stored)).toBe(false);
  });

  it("salts every hash, so equal passwords give different strings", async () => {
    const [a, b] = await Promise.all([hashPassword("same-password"), hashPassword("same-password")]);
    expect(a).not.toBe(b);
    expect(await verifyPassword("same-password", a)).toBe(true);
    expect(await verifyPassword("same-password", b)).toBe(true);
  });

  it("honours the parameters stored in the hash", async () => {
    const cheap = await hashPassword("low-cost-password", { N: 1024, r: 8, p: 1 });
    expect(cheap.startsWith("scrypt$1024$8$1$")).toBe(true);
    expect(await verifyPassword("low-cost-password", cheap)).toBe(true);
    expect(needsRehash(cheap)).toBe(true);
    expect(needsRehash(await hashPassword("default-cost"))).toBe(false);
  });

  it("answers false, never throws, for values it did not write", async () => {
    for (const stored of ["", "plaintext", "bcrypt$x", "scrypt$3$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==", "scrypt$4194304$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA=="]) {
      expect(await verifyPassword("whatever", stored)).toBe(false);
    }
  });

  it("refuses over-long passwords", async () => {
    await expect(hashPassword("x".repeat(2000))).rejects.toThrow(RangeError);
    expect(await verifyPassword("x".repeat(2000), await hashPassword("short-enough"))).toBe(false);
  });
});
