import { createHmac, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { loadConfig, type Config } from "@seatdrop/config";
import { AuthError, createTokenSigner, createTokenVerifier, type VerifiedToken } from "../src/index.ts";

/**
 * The ws-node's upgrade verifies the cluster's own HS256 tokens synchronously (`verifySync`,
 * node:crypto), inside uWS's upgrade handler, while the API keeps jose (`verify`). Both must give
 * every token the same answer: accepted with the same claims, or refused with the same code and
 * description. This runs both over one corpus, under three configurations (plain; an audience; an
 * identity provider's issuer and key set). No database or Redis: `verify` is made without
 * `isEnded`.
 */
const base = loadConfig({ NODE_ENV: "test", JWT_SECRET: "agreement-secret-agreement-secret", SERVICE_SECRET: "s".repeat(16) });
const secret = base.JWT_SECRET;
const userId = "7c0b8d64-1f43-4c43-9a43-1d4fe1f3a9a1";
const nowS = () => Math.floor(Date.now() / 1000);

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const hmac = (input: string, key = secret) => createHmac("sha256", key).update(input).digest("base64url");
/** A compact token: header and payload as objects (JSON) or as already encoded segments. */
function token(header: unknown, payload: unknown, o: { key?: string; sig?: string; raw?: boolean } = {}): string {
  const h = o.raw && typeof header === "string" ? header : b64(header);
  const p = o.raw && typeof payload === "string" ? payload : b64(payload);
  return `${h}.${p}.${o.sig ?? hmac(`${h}.${p}`, o.key)}`;
}
const claims = (c: Record<string, unknown> = {}, config: Config = base) => {
  const all: Record<string, unknown> = { sub: userId, iss: config.JWT_ISSUER, exp: nowS() + 3600, iat: nowS(), jti: randomUUID(), role: "user", ...c };
  for (const k of Object.keys(all)) if (all[k] === undefined) delete all[k];
  return all;
};
const HS = { alg: "HS256", typ: "JWT" };
/** The claims' base64url with a padding-free length of `mod` modulo 4 (a username grown until it is); 1 adds a stray character. */
function payloadOfLength(c: Record<string, unknown>, mod: 1 | 2 | 3): string {
  for (let n = 0; ; n++) {
    const p = b64({ ...c, username: "p".repeat(n) });
    if (mod === 1 && p.length % 4 === 0) return `${p}A`;
    if (p.length % 4 === mod) return p;
  }
}

/** Every case: a name and the token (made at run time, so the clock is current). */
function corpus(config: Config): [string, () => string | Promise<string>][] {
  const c = (x: Record<string, unknown> = {}) => claims(x, config);
  const aud = config.JWT_AUDIENCE ? { aud: config.JWT_AUDIENCE } : {};
  return [
    ["valid, from the signer", () => createTokenSigner(config).sign({ sub: userId, role: "admin", username: "ada" })],
    ["valid by hand", () => token(HS, c(aud))],
    ["valid, iat_ms", () => token(HS, c({ ...aud, iat_ms: Date.now() - 1234 }))],
    ["valid, no iat", () => token(HS, c({ ...aud, iat: undefined }))],
    ["valid, no jti (a digest names it)", () => token(HS, c({ ...aud, jti: undefined }))],
    ["valid, no role (a user)", () => token(HS, c({ ...aud, role: undefined }))],
    ["valid, service role and username", () => token(HS, c({ ...aud, role: "service", username: "svc" }))],
    ["valid, header without typ", () => token({ alg: "HS256" }, c(aud))],
    ["valid, header with kid", () => token({ alg: "HS256", kid: "k1" }, c(aud))],
    ["expired", () => token(HS, c({ ...aud, exp: nowS() - 60 }))],
    ["expired within the 5 s tolerance", () => token(HS, c({ ...aud, exp: nowS() - 2 }))],
    ["expired at the tolerance's edge", () => token(HS, c({ ...aud, exp: nowS() - 5 }))],
    ["nbf in the future", () => token(HS, c({ ...aud, nbf: nowS() + 60 }))],
    ["nbf within the tolerance", () => token(HS, c({ ...aud, nbf: nowS() + 3 }))],
    ["nbf past", () => token(HS, c({ ...aud, nbf: nowS() - 60 }))],
    ["wrong signature (another secret)", () => token(HS, c(aud), { key: "another-secret-another-secret" })],
    ["signature of another token", () => token(HS, c(aud), { sig: hmac("x.y") })],
    ["empty signature", () => token(HS, c(aud), { sig: "" })],
    ["short signature", () => token(HS, c(aud), { sig: "AAAA" })],
    ["signature not base64url", () => token(HS, c(aud), { sig: "a+b/c" })],
    ["tampered payload", () => {
      const t = token(HS, c(aud)).split(".");
      return `${t[0]}.${b64(c({ ...aud, role: "admin" }))}.${t[2]}`;
    }],
    ["alg none, no signature", () => `${b64({ alg: "none" })}.${b64(c(aud))}.`],
    ["alg none, HMAC signature", () => token({ alg: "none" }, c(aud))],
    ["alg RS256 signed with the HS secret", () => token({ alg: "RS256" }, c(aud))],
    ["alg ES256 signed with the HS secret", () => token({ alg: "ES256", kid: "k1" }, c(aud))],
    ["alg HS512", () => token({ alg: "HS512" }, c(aud))],
    ["alg hs256 (case)", () => token({ alg: "hs256" }, c(aud))],
    ["alg missing", () => token({ typ: "JWT" }, c(aud))],
    ["alg empty", () => token({ alg: "" }, c(aud))],
    ["alg a number", () => token({ alg: 256 }, c(aud))],
    ["crit unknown", () => token({ alg: "HS256", crit: ["x-unknown"], "x-unknown": 1 }, c(aud))],
    ["crit empty", () => token({ alg: "HS256", crit: [] }, c(aud))],
    ["crit not an array", () => token({ alg: "HS256", crit: "b64" }, c(aud))],
    ["crit b64 missing its member", () => token({ alg: "HS256", crit: ["b64"] }, c(aud))],
    ["crit b64 not a boolean", () => token({ alg: "HS256", crit: ["b64"], b64: "no" }, c(aud))],
    ["crit b64 true", () => token({ alg: "HS256", crit: ["b64"], b64: true }, c(aud))],
    ["crit b64 false (unencoded payload)", () => {
      const h = b64({ alg: "HS256", crit: ["b64"], b64: false });
      const p = JSON.stringify(c(aud));
      return `${h}.${p}.${hmac(`${h}.${p}`)}`;
    }],
    ["b64 false without crit", () => token({ alg: "HS256", b64: false }, c(aud))],
    ["wrong iss", () => token(HS, c({ ...aud, iss: "someone-else" }))],
    ["iss a number", () => token(HS, c({ ...aud, iss: 42 }))],
    ["missing iss", () => token(HS, c({ ...aud, iss: undefined }))],
    ["no aud", () => token(HS, c())],
    ["no aud, no iss", () => token(HS, c({ iss: undefined }))],
    ["wrong aud", () => token(HS, c({ aud: "another-app" }))],
    ["aud array naming us", () => token(HS, c({ aud: ["other", config.JWT_AUDIENCE ?? "x"] }))],
    ["aud array without us", () => token(HS, c({ aud: ["other"] }))],
    ["aud a number", () => token(HS, c({ aud: 7 }))],
    ["missing sub", () => token(HS, c({ ...aud, sub: undefined }))],
    ["empty sub", () => token(HS, c({ ...aud, sub: "" }))],
    ["sub a number", () => token(HS, c({ ...aud, sub: 12 }))],
    ["missing exp", () => token(HS, c({ ...aud, exp: undefined }))],
    ["missing exp and sub and iss", () => token(HS, c({ ...aud, exp: undefined, sub: undefined, iss: undefined }))],
    ["exp a string", () => token(HS, c({ ...aud, exp: String(nowS() + 3600) }))],
    ["exp null", () => token(HS, c({ ...aud, exp: null }))],
    ["iat a string", () => token(HS, c({ ...aud, iat: "yesterday" }))],
    ["iat null", () => token(HS, c({ ...aud, iat: null }))],
    ["iat in the future", () => token(HS, c({ ...aud, iat: nowS() + 86_400 }))],
    ["nbf a string and exp past", () => token(HS, c({ ...aud, nbf: "now", exp: nowS() - 60 }))],
    ["iat a string and nbf future", () => token(HS, c({ ...aud, iat: "x", nbf: nowS() + 60 }))],
    ["iat_ms a string (falls back to iat)", () => token(HS, c({ ...aud, iat_ms: "1" }))],
    ["unknown role", () => token(HS, c({ ...aud, role: "superuser" }))],
    ["role a number", () => token(HS, c({ ...aud, role: 1 }))],
    ["bad base64 in the payload (signed)", () => token(HS, "e30*", { raw: true })],
    ["bad base64 in the header", () => token("e30*", c(aud), { raw: true })],
    ["base64 with + and / (not url)", () => token(HS, Buffer.from(JSON.stringify({ ...c(aud), username: "?>?>?>" })).toString("base64").replace(/=+$/, ""), { raw: true })],
    ["padded payload (==)", () => token(HS, `${payloadOfLength(c(aud), 2)}==`, { raw: true })],
    ["padded payload (=)", () => token(HS, `${payloadOfLength(c(aud), 3)}=`, { raw: true })],
    ["wrongly padded payload (=, two short)", () => token(HS, `${payloadOfLength(c(aud), 2)}=`, { raw: true })],
    ["over-padded payload (===)", () => token(HS, `${payloadOfLength(c(aud), 1)}===`, { raw: true })],
    ["payload with whitespace inside (signed as is)", () => {
      const p = b64(c(aud));
      return token(HS, `${p.slice(0, 8)} ${p.slice(8, 20)}\n${p.slice(20)}`, { raw: true });
    }],
    ["payload of a length 1 mod 4", () => token(HS, payloadOfLength(c(aud), 1), { raw: true })],
    ["payload with non-zero trailing bits", () => {
      const p = payloadOfLength(c(aud), 2);
      return token(HS, `${p.slice(0, -1)}${p.endsWith("Q") ? "R" : "Q"}`, { raw: true });
    }],
    ["payload with a lone =", () => token(HS, `${b64(c(aud))}=`, { raw: true })],
    ["payload with = in the middle", () => token(HS, `${b64(c(aud)).slice(0, 8)}=${b64(c(aud)).slice(8)}`, { raw: true })],
    ["non-ASCII payload segment", () => token(HS, `${b64(c(aud))}é`, { raw: true })],
    ["bad JSON payload", () => token(HS, b64("{not json"), { raw: true })],
    ["payload an array", () => token(HS, b64("[1,2]"), { raw: true })],
    ["payload null", () => token(HS, b64("null"), { raw: true })],
    ["payload a string", () => token(HS, b64('"x"'), { raw: true })],
    ["payload with a BOM", () => token(HS, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(c(aud)))]).toString("base64url"), { raw: true })],
    ["payload not UTF-8", () => token(HS, Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]).toString("base64url"), { raw: true })],
    ["bad JSON header", () => token(b64("{alg"), c(aud), { raw: true })],
    ["header an array", () => token(b64('["HS256"]'), c(aud), { raw: true })],
    ["empty header", () => token("", c(aud), { raw: true })],
    ["empty payload", () => token(HS, "", { raw: true })],
    ["two parts", () => token(HS, c(aud)).split(".").slice(0, 2).join(".")],
    ["four parts", () => `${token(HS, c(aud))}.x`],
    ["empty string", () => ""],
    ["garbage", () => "not.a.jwt"],
    ["oversize token (8,193 characters)", () => token(HS, c({ ...aud, username: "x".repeat(6200) }))],
    ["large but allowed", () => token(HS, c({ ...aud, username: "x".repeat(5000) }))],
  ];
}

type Outcome = { ok: VerifiedToken } | { code: string; message: string } | { other: string };
const outcome = (run: () => VerifiedToken): Outcome => {
  try {
    return { ok: run() };
  } catch (err) {
    return err instanceof AuthError ? { code: err.code, message: err.message } : { other: String(err) };
  }
};
const outcomeAsync = async (p: Promise<VerifiedToken>): Promise<Outcome> =>
  p.then(
    (ok) => ({ ok }),
    (err: unknown) => (err instanceof AuthError ? { code: err.code, message: err.message } : { other: String(err) }),
  );

const configs: [string, Config][] = [
  ["plain", base],
  ["with JWT_AUDIENCE", { ...base, JWT_AUDIENCE: "seat-drop" }],
  // The key set is never fetched: provider tokens are not run through jose here (see below).
  ["with an identity provider", { ...base, JWKS_URL: "http://127.0.0.1:9/.well-known/jwks.json", JWKS_ISSUER: "https://idp.example" }],
];

describe("verifySync agrees with jose's verify", () => {
  for (const [name, config] of configs) {
    it(`on every token of the corpus (${name})`, async () => {
      const verifier = createTokenVerifier(config);
      const seen = new Map<string, number>();
      for (const [label, make] of corpus(config)) {
        const t = await make();
        const sync = outcome(() => {
          const v = verifier.verifySync(t);
          if (v === null) throw new Error("async");
          return v;
        });
        if ("other" in sync && sync.other.endsWith("async")) {
          // Only an identity provider's algorithms go to jose, and only when a key set is configured.
          expect(config.JWKS_URL, label).toBeDefined();
          expect(JSON.parse(Buffer.from(t.split(".")[0]!, "base64url").toString()).alg, label).toMatch(/^(RS256|ES256)$/);
          seen.set("async", (seen.get("async") ?? 0) + 1);
          continue;
        }
        const jose = await outcomeAsync(verifier.verify(t));
        expect({ label, ...sync }).toEqual({ label, ...jose });
        const key = "ok" in sync ? "accepted" : "code" in sync ? `${sync.code}: ${sync.message}` : "other";
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      // The corpus reaches every answer: acceptance, expiry, and the refusals' descriptions.
      const answers = [...seen.keys()].join("\n");
      expect(answers).toContain("accepted");
      expect(answers).toContain("token_expired");
      for (const why of ["malformed", "signature verification failed", "algorithm not allowed", "claim iss missing", "claim exp missing", "claim nbf is wrong", "claim iat invalid", "unknown role", "lacks a subject"])
        expect(answers).toContain(why);
      if (config.JWT_AUDIENCE) expect(answers).toContain("claim aud is wrong");
      if (config.JWKS_URL) expect(seen.get("async")).toBe(2);
      console.log(`token agreement (${name}): ${corpus(config).length} tokens, ${[...seen].map(([k, n]) => `${n} ${k}`).join("; ")}`);
    });
  }

  it("an identity provider's issuer is accepted on HS256 tokens by both, as jose's issuer list does", async () => {
    const config = configs[2]![1];
    const verifier = createTokenVerifier(config);
    const t = token(HS, claims({ iss: "https://idp.example" }, config));
    expect(verifier.verifySync(t)).toEqual(await verifier.verify(t));
    expect(verifier.verifySync(t)!.local).toBe(true);
  });
});
