/**
 * The development values `npm start` generated or was given, in a file the demos read: a plain
 * `npm start` generates the admin password and the webhook secret per run, and `npm run demo` needs
 * both, so without the file the only way on was a restart with both set by hand.
 *
 * Written only outside production, mode 0600, git-ignored; removed again when `npm start` stops.
 * SDC_DEV_ENV_FILE moves it (the tests do, so a test run never overwrites a developer's file).
 */
import { chmodSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** What the demos need to reach and drive the cluster `npm start` runs. */
const DEV_ENV_KEYS = ["API_PORT", "WS_PORTS", "ADMIN_EMAIL", "ADMIN_PASSWORD", "PAYMENT_WEBHOOK_SECRET", "CHAT_ACTIVATE_BEFORE_MS"] as const;

export function devEnvFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.SDC_DEV_ENV_FILE || fileURLToPath(new URL("../.sdc-dev.env", import.meta.url));
}

/** Writes `values` as KEY=value lines, readable by the owner only (it holds the admin password). */
export function writeDevEnv(values: Record<string, string>, path = devEnvFile()): string {
  const text = `# Written by npm start for npm run demo / demo:chat; removed when it stops. Development only.\n${Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n")}\n`;
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600); // an existing file keeps its mode on write
  return text;
}

/** Removes the file if it still holds what this process wrote (a second `npm start` may have replaced it). */
export function removeDevEnv(written: string, path = devEnvFile()): void {
  try {
    if (readFileSync(path, "utf8") === written) unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Fills the variables the environment does not set from the file, if there is one; returns the file's path when it was read. */
export function loadDevEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const path = devEnvFile(env);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m && (DEV_ENV_KEYS as readonly string[]).includes(m[1]!) && !env[m[1]!]) env[m[1]!] = m[2]!;
  }
  return path;
}
