import { afterAll, beforeAll } from "vitest";
import { createLogger } from "@seatdrop/observability";
import { buildApp, type ApiApp } from "../src/app.ts";
import type { ApiDeps } from "../src/deps.ts";
import { bootstrapAdmin } from "../src/services/bootstrap-admin.ts";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";

/** An API built on a private test environment (own database, own Redis prefix), driven with `inject()`. */
export interface ApiHarness {
  env: TestEnv;
  app: ApiApp;
  close(): Promise<void>;
}

export async function startApi(extra: Partial<Pick<ApiDeps, "redis">> = {}): Promise<ApiHarness> {
  const env = await createTestEnv();
  const logger = createLogger("api-test", env.config.LOG_LEVEL);
  const app = buildApp({ config: env.config, db: env.db, redis: env.redis, keys: env.keys, logger, ...extra });
  await app.ready();
  return {
    env,
    app,
    async close() {
      await app.close();
      await env.close();
    },
  };
}

/** The usual set-up of a file about admin-guarded routes: the API and its admin's token, made before the file's tests, closed after. */
export function useApiWithAdmin() {
  const world = { h: undefined as unknown as ApiHarness, admin: "" };
  beforeAll(async () => {
    world.h = await startApi();
    world.admin = await adminToken(world.h);
  });
  afterAll(async () => {
    await world.h?.close();
  });
  return world;
}

/** A sign-up answer: the session on 201, the error fields otherwise. */
export interface SignUpAnswer {
  user: { id: string; username: string; email: string; role: string };
  token: string;
  error?: string;
  field?: string;
  errors?: { field: string; message: string }[];
}

/** Signs up through the chat service's route and returns the parsed answer. */
export async function signUp(app: ApiApp, user: { username: string; email: string; password: string }) {
  const res = await app.inject({
    method: "POST",
    url: "/api/users/create",
    payload: { user_params: { username: user.username, email: user.email, password_hash: user.password } },
  });
  return { status: res.statusCode, body: res.json() as SignUpAnswer };
}

/** Creates the configured admin as `main.ts` does at boot and returns a token from signing in. */
export async function adminToken(h: ApiHarness): Promise<string> {
  await bootstrapAdmin({ db: h.env.db, config: h.env.config, logger: createLogger("api-test", "silent") });
  const res = await h.app.inject({
    method: "POST",
    url: "/api/users/sign_in",
    payload: { email: h.env.config.ADMIN_EMAIL, password_hash: h.env.config.ADMIN_PASSWORD },
  });
  if (res.statusCode !== 200) throw new Error(`admin sign-in failed: ${res.statusCode} ${res.body}`);
  return (res.json() as { token: string }).token;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let signedUp = 0;
/** Signs up a fresh user (its name from `prefix` and a per-file counter), so tests do not share accounts. */
export async function signUpFresh(app: ApiApp, prefix: string) {
  signedUp += 1;
  const email = `${prefix}${signedUp}@example.com`;
  const password = `${prefix}-password-${signedUp}`;
  const { status, body } = await signUp(app, { username: `${prefix}_${signedUp}`, email, password });
  if (status !== 201) throw new Error(`sign-up of ${email} answered ${status}: ${JSON.stringify(body)}`);
  return { id: body.user.id, token: body.token, email, password };
}
