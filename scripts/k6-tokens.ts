/**
 * `npm run k6:tokens -- --count 50 [--event <id> --tickets] [--out tokens.txt]`: makes load-test
 * users and writes one signed token per line for the k6 scripts (`-e TOKENS=tokens.txt`).
 *
 * Signing users up through the API from one load machine stops at the per-address sign-up limit
 * (LIMIT_SIGN_UPS_PER_IP, 10 a minute), which is right for the public door and wrong for a load
 * test, so this script writes the users straight into PostgreSQL and signs their tokens with the
 * cluster's own secret. It needs the cluster's DATABASE_URL and JWT_SECRET (the same environment
 * the apps run with). With `--event` and `--tickets`, each user is also given a ticket for that
 * event, as the box office would assign one, so they may join its chat room (load-tests/k6/chat.js).
 * The users cannot sign in (their password is random and never printed); the tokens expire as any
 * other token does (JWT_TTL).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createTokenSigner, hashPassword } from "@seatdrop/auth";
import { loadConfig } from "@seatdrop/config";
import { connectDb, users } from "@seatdrop/db";
import { assignTicket, issueTicket, newTicketNumber } from "@seatdrop/tickets";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "50" },
    event: { type: "string" },
    tickets: { type: "boolean", default: false },
    out: { type: "string", default: "tokens.txt" },
  },
});
const count = Number(values.count);
if (!Number.isInteger(count) || count < 1 || count > 100_000) {
  console.error(`k6:tokens: --count must be a whole number from 1 to 100000, not ${JSON.stringify(values.count)}`);
  process.exit(2);
}
if (values.tickets && !values.event) {
  console.error("k6:tokens: --tickets needs --event <eventId> (the event whose tickets the users get)");
  process.exit(2);
}
if (!process.env.JWT_SECRET && !process.env.JWKS_URL) {
  console.error("k6:tokens: set JWT_SECRET (and DATABASE_URL) to the cluster's own, or its ws-nodes will refuse the tokens");
  process.exit(2);
}

const config = loadConfig(process.env);
const db = connectDb(config.DATABASE_URL, { max: 4 });
const signer = createTokenSigner(config);
try {
  // One password hash for all: the users never sign in, and scrypt per user would take minutes.
  const passwordHash = await hashPassword(randomBytes(24).toString("base64url"));
  const run = randomBytes(4).toString("hex");
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    await db.db.insert(users).values({ id, username: `k6-${run}-${i}`, email: `k6-${run}-${i}@load-test.invalid`, passwordHash, role: "user" });
    if (values.tickets) {
      const ticket = await issueTicket(db.db, { ticketNumber: newTicketNumber(), eventId: values.event! });
      await assignTicket(db.db, { ticketId: ticket.id, userId: id, byAdmin: true, actor: "k6-tokens" });
    }
    tokens.push(await signer.sign({ sub: id, role: "user" }));
  }
  writeFileSync(values.out, `${tokens.join("\n")}\n`, { mode: 0o600 });
  console.log(`k6:tokens: ${count} users (k6-${run}-*)${values.tickets ? `, each with a ticket for ${values.event}` : ""}; tokens in ${values.out}`);
} finally {
  await db.close();
}
