import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenVerifier, SessionStore } from "@seatdrop/auth";
import { createTestEnv, type TestEnv } from "../../../test/support/test-env.ts";
import { startChildNode, type ChildNode } from "../../../test/support/child-node.ts";
import { createEvent, createUser, seatIdsGrid } from "../../../test/support/cluster.ts";
import { RawPhx, phxUrl } from "../../../test/support/raw-phx.ts";
import { rawUpgrade } from "../../../test/support/raw-upgrade.ts";

/**
 * Our uWS build prints "Warning: uWS.HttpResponse writes must be made from within a corked
 * callback" for every upgrade completed after an await: one line per authenticated connect (5,326
 * in one CI log). The upgrade of the cluster's own tokens is now decided inside uWS's handler; this
 * counts the lines a real ws-node process writes to stderr over N authenticated connects and joins,
 * and a few refusals, and prints the node's CPU per connect and join.
 */
const WARNING = "writes must be made from within a corked callback";
const USERS = 20;
const PER_USER = 20; // twice that stays under LIMIT_CONNECTS_PER_USER (120); loopback is exempt from the per-address limit
const BATCH = 50;
let env: TestEnv;
let node: ChildNode;
beforeAll(async () => {
  env = await createTestEnv();
  node = await startChildNode(env, { captureStderr: true });
});
afterAll(async () => {
  await node?.kill();
  await env?.close();
});

/** The process's user and system CPU so far, in microseconds (/proc: clock ticks of 10 ms). */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}
const warnings = () => node.stderr().split("\n").filter((l) => l.includes(WARNING)).length;

describe("the connect path without the warning", () => {
  it(`${2 * USERS * PER_USER} authenticated connects and joins, and refused upgrades, write no corked-callback warning`, { timeout: 60_000 }, async () => {
    const eventId = await createEvent(env, seatIdsGrid(2, 10));
    const users = await Promise.all(Array.from({ length: USERS }, () => createUser(env)));
    const tokens = users.flatMap((u) => Array.from({ length: PER_USER }, () => u.token));
    const round = async () => {
      const sockets: RawPhx[] = [];
      for (let i = 0; i < tokens.length; i += BATCH) {
        const batch = tokens.slice(i, i + BATCH).map((token) => new RawPhx(phxUrl(node.port, { token })));
        sockets.push(...batch);
        await Promise.all(batch.map((c) => c.opened()));
        const joins = await Promise.all(batch.map((c) => c.join(`seats:${eventId}`)));
        for (const j of joins) expect(j.reply.status).toBe("ok");
      }
      return sockets;
    };
    // Two rounds, every one counted; the CPU figure from the second (the first warms the young process up).
    const before = warnings();
    const first = await round();
    const cpuBefore = cpuMicros(node.process.pid!);
    const sockets = [...first, ...(await round())];
    const cpu = cpuMicros(node.process.pid!) - cpuBefore;
    // Refusals answered inside the handler too: a bad token, an expired one, a revoked one.
    const revoked = await createUser(env);
    await new SessionStore({ db: env.db.db, redis: env.redis, keys: env.keys }).revoke(await createTokenVerifier(env.config).verify(revoked.token));
    const statuses = [];
    for (const t of ["not.a.jwt", tokens[0]!.slice(0, -2), revoked.token]) statuses.push((await rawUpgrade(node.port, `/socket/websocket?vsn=2.0.0&token=${encodeURIComponent(t)}`)).status);
    expect(statuses).toEqual([401, 401, 401]);
    for (const c of sockets) c.close();
    await new Promise((r) => setTimeout(r, 300)); // the child's stderr pipe drained
    const lines = warnings() - before;
    console.log(
      `upgrade warnings: ${lines} "${WARNING}" lines over ${sockets.length} authenticated connects and joins and ${statuses.length} refusals; ` +
        `ws-node CPU ${Math.round(cpu / tokens.length)} µs per connect and join (/proc, 10 ms ticks: ±${Math.round(10_000 / tokens.length)} µs; a shared machine)`,
    );
    expect(lines).toBe(0);
  });
});
