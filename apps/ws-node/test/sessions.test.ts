import { scanKeys, unlinkMatching } from "@seatdrop/redis";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenSigner, createTokenVerifier, providerUserId } from "@seatdrop/auth";
import { revokedTokens } from "@seatdrop/db";
import type { ApiApp } from "../../api/src/app.ts";
import type { TestEnv } from "../../../test/support/test-env.ts";
import { useClusterWithApi } from "../../../test/support/use-cluster.ts";
import { createEvent, createUser, seatIdsGrid, type TestCluster } from "../../../test/support/cluster.ts";
import { rawUpgrade } from "../../../test/support/raw-upgrade.ts";

/**
 * docs/reliability.md, round one, findings 3 and 11: sessions outlived the account, the password
 * and the token, and a Redis restart un-revoked signed-out tokens. Now sockets close with 4401 when
 * their token expires or their session ends anywhere; the record is in PostgreSQL with Redis as its
 * cache; and a node whose subscriber missed the announcement re-checks its sockets when it
 * reconnects.
 */
let env: TestEnv;
let cluster: TestCluster;
let app: ApiApp;
const world = useClusterWithApi({}, { worker: false });
beforeAll(() => {
  ({ env, cluster, app } = world);
});
const socket = (node: number, token: string) => world.socket(node, token);
const upgrade = (node: number, token: string) => rawUpgrade(cluster.nodes[node]!.port, `/socket/websocket?vsn=2.0.0&token=${encodeURIComponent(token)}`);
const api = (method: "GET" | "POST" | "DELETE", url: string, token: string, payload?: unknown) =>
  app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload: payload as object } : {}) });
async function signUp(name: string) {
  const res = await app.inject({ method: "POST", url: "/api/users/create", payload: { user_params: { username: `${name}_${Date.now()}`, email: `${name}-${randomUUID()}@example.com`, password_hash: "first password" } } });
  expect(res.statusCode).toBe(201);
  return res.json() as { user: { id: string }; token: string };
}

/** Figures of the last run, printed as one line. */
const figures: string[] = [];

describe("sessions end when they should", () => {
  afterAll(() => console.log(`sessions: ${figures.join("; ")}`));
  it("a socket is closed with 4401 token_expired when its token's exp passes, and could lock until then", async () => {
    const user = await createUser(env);
    const eventId = await createEvent(env, seatIdsGrid(1, 2));
    const token = await createTokenSigner(env.config).sign({ sub: user.id, role: "user" }, { ttlSeconds: 2 });
    const c = await socket(0, token);
    const { joinRef } = await c.join(`seats:${eventId}`);
    expect((await c.push(joinRef, `seats:${eventId}`, "lock", { seat: "A_1" })).status).toBe("ok");
    const closed = await c.closed(10_000);
    const closedAt = Date.now();
    expect(closed.code).toBe(4401);
    expect(closed.reason).toContain("token_expired");
    const { exp } = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { exp: number };
    figures.push(`token of 2 s: locked, then closed ${closed.code} ${closed.reason.split(":")[0]} ${closedAt - exp * 1000} ms after its exp`);
  });

  it("deleting a user closes their sockets on every node and refuses their tokens everywhere", async () => {
    const u = await signUp("doomed");
    // Another device of the same user: its own token, its own sockets.
    const device = (await app.inject({ method: "POST", url: "/api/users/sign_in", payload: { email: (await api("GET", `/api/users/${u.user.id}`, u.token)).json().user.email, password_hash: "first password" } })).json().token as string;
    const [a, b] = [await socket(0, device), await socket(1, device)];
    const deletedAt = Date.now();
    const del = await api("DELETE", `/api/users/delete_user/${u.user.id}`, u.token);
    expect(del.statusCode).toBe(204);
    for (const c of [a, b]) {
      const closed = await c.closed();
      expect(closed.code).toBe(4401);
      expect(closed.reason).toContain("token_revoked");
    }
    const closedIn = Date.now() - deletedAt;
    const refused: string[] = [];
    for (const t of [u.token, device]) {
      const up = await upgrade(1, t);
      const got = await api("GET", "/api/users/me/notifications", t);
      expect(up.status).toBe(401);
      expect(JSON.parse(up.body)).toMatchObject({ error: "token_revoked" });
      expect(got.statusCode).toBe(401);
      expect(got.json()).toMatchObject({ error: "token_revoked" });
      refused.push(`${up.status} ${String((JSON.parse(up.body) as { error?: string }).error)} / ${got.statusCode} ${String((got.json() as { error?: string }).error)}`);
    }
    figures.push(`user deleted: ${[a, b].length} sockets on 2 nodes closed ${[...new Set([a, b].map((c) => `${c.closeInfo!.code} ${c.closeInfo!.reason.split(":")[0]}`))].join(", ")} within ${closedIn} ms of the DELETE, ${refused.length} tokens refused ${[...new Set(refused)].join(", ")} (upgrade / API)`);
  });

  it("a password change refuses every earlier token (API and sockets) and hands the changer a fresh one", async () => {
    const u = await signUp("changer");
    const other = await app.inject({ method: "POST", url: "/api/users/sign_in", payload: { email: (await api("GET", `/api/users/${u.user.id}`, u.token)).json().user.email, password_hash: "first password" } });
    const otherToken = (other.json() as { token: string }).token; // the same user on another device
    const s = await socket(1, otherToken);
    const changed = await api("POST", "/api/users/update", u.token, { id: u.user.id, user_params: { password_hash: "second password" } });
    expect(changed.statusCode).toBe(200);
    const fresh = (changed.json() as { token?: string }).token;
    expect(fresh).toEqual(expect.any(String));
    const closed = await s.closed();
    expect(closed.code).toBe(4401);
    expect(closed.reason).toContain("token_revoked");
    const refused: string[] = [];
    for (const t of [u.token, otherToken]) {
      const got = await api("GET", `/api/users/${u.user.id}`, t);
      const upgraded = await upgrade(0, t);
      const up = upgraded.status;
      expect(got.json()).toMatchObject({ error: "token_revoked" });
      expect(up).toBe(401);
      expect(JSON.parse(upgraded.body)).toMatchObject({ error: "token_revoked" });
      refused.push(`${got.statusCode} ${String((got.json() as { error?: string }).error)} / ${up} ${String((JSON.parse(upgraded.body) as { error?: string }).error)}`);
    }
    const freshGet = (await api("GET", `/api/users/${u.user.id}`, fresh!)).statusCode;
    const freshUp = (await upgrade(0, fresh!)).status;
    expect(freshGet).toBe(200);
    expect(freshUp).toBe(101);
    figures.push(`password changed: the other device's socket closed ${s.closeInfo!.code} ${s.closeInfo!.reason.split(":")[0]}; ${refused.length} earlier tokens refused ${[...new Set(refused)].join(", ")} (API / upgrade), the fresh one ${freshGet} / ${freshUp}`);
  });

  it("a signed-out token stays refused when Redis loses its cache (a restart): PostgreSQL is the record", async () => {
    const u = await signUp("signout");
    expect((await api("POST", "/api/users/sign_out", u.token)).statusCode).toBe(204);
    expect((await api("GET", `/api/users/${u.user.id}`, u.token)).statusCode).toBe(401);
    // What a Redis restart does to the deny list: every cached key is gone.
    const cached: string[] = [];
    await scanKeys(env.redis, `${env.config.REDIS_PREFIX}:auth:*`, async (k) => void cached.push(...k));
    expect(cached.length).toBeGreaterThan(0);
    await unlinkMatching(env.redis, `${env.config.REDIS_PREFIX}:auth:*`);
    const deletedAt = Date.now();
    const got = await api("GET", `/api/users/${u.user.id}`, u.token);
    const up = (await upgrade(0, u.token)).status;
    expect(got.json()).toMatchObject({ error: "token_revoked" });
    expect(up).toBe(401);
    // And the cache is filled again from PostgreSQL.
    await expect.poll(async () => env.redis.exists(env.keys.deniedTokensLoaded), { timeout: 5000 }).toBe(1);
    figures.push(`${cached.length} auth cache keys deleted (a Redis restart): the signed-out token still refused ${got.statusCode} ${String((got.json() as { error?: string }).error)} (API) / ${up} (upgrade), cache refilled within ${Date.now() - deletedAt} ms`);
  });

  it("a revocation whose announcement a node missed is found when that node's subscriber reconnects", async () => {
    const user = await createUser(env);
    const verified = await createTokenVerifier(env.config).verify(user.token);
    const c = await socket(0, user.token);
    // The sign-out reaches the record and the cache, but its announcement is lost (pub/sub is
    // at-most-once: the subscriber was reconnecting).
    await env.db.db.insert(revokedTokens).values({ jti: verified.jti, userId: user.id, expiresAt: new Date(verified.exp * 1000) });
    await env.redis.set(env.keys.deniedToken(verified.jti), "1", "EXAT", verified.exp);
    await new Promise((r) => setTimeout(r, 200));
    const openBefore = c.closeInfo === undefined;
    expect(c.closeInfo).toBeUndefined();
    // Drop node 0's subscriber connection; ioredis reconnects and the node re-checks its sockets.
    const name = `sdc-subscriber-${env.config.REDIS_PREFIX}-${cluster.nodes[0]!.nodeId}`;
    const list = (await env.redis.client("LIST")) as string;
    const id = list.split("\n").find((l) => l.includes(` name=${name} `))?.match(/^id=(\d+)/)?.[1];
    expect(id).toBeDefined();
    const killedAt = Date.now();
    await env.redis.client("KILL", "ID", id!);
    expect((await c.closed(10_000)).code).toBe(4401);
    figures.push(`sign-out announcement missed: socket ${openBefore ? "still open" : "closed"} after 200 ms, closed ${c.closeInfo!.code} ${Date.now() - killedAt} ms after its node's subscriber was cut`);
  });
});

describe("identity-provider subjects", () => {
  it("are namespaced: a provider's sub never acts as the local user with that id, and never carries a separator", () => {
    const local = randomUUID();
    const asLocal = providerUserId("https://idp.example", local);
    expect(asLocal).not.toBe(local);
    expect(asLocal).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(providerUserId("https://idp.example", "a:b|c")).toMatch(/^[0-9a-f-]{36}$/);
    expect(providerUserId("https://idp.example", "x")).toBe(providerUserId("https://idp.example", "x"));
    expect(providerUserId("https://other.example", "x")).not.toBe(providerUserId("https://idp.example", "x"));
  });
});
