/**
 * `npm run demo`, against a running `npm start`: creates an event through the API, signs two
 * buyers up, connects each with the stock `phoenix` client to a DIFFERENT ws-node, and shows
 * each one seeing the other's locks. Reads API_PORT, WS_PORTS, ADMIN_EMAIL and ADMIN_PASSWORD.
 */
import { randomBytes } from "node:crypto";
import { Socket } from "phoenix";
import WebSocket from "ws";

const api = `http://localhost:${process.env.API_PORT ?? 3000}`;
const [portA, portB] = (process.env.WS_PORTS ?? "4000,4001").split(",").map((p) => p.trim());
const adminEmail = process.env.ADMIN_EMAIL ?? "admin@example.com";
const adminPassword = process.env.ADMIN_PASSWORD;
if (!adminPassword) {
  console.error("demo: set ADMIN_PASSWORD to the admin password `npm start` printed (or the one you gave it)");
  process.exit(2);
}

async function call(method: string, path: string, body?: unknown, token?: string): Promise<any> {
  const r = await fetch(api + path, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await r.json();
  if (!r.ok) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(json)}`);
  return json;
}

const { token: adminToken } = await call("POST", "/api/users/sign_in", { email: adminEmail, password_hash: adminPassword });
const seats = ["A", "B"].flatMap((row) => [1, 2, 3, 4].map((n) => ({ id: `${row}_${n}`, row, number: n, section: "floor", price: 45 })));
const event = await call(
  "POST",
  "/api/events",
  { name: "Demo drop", description: "npm run demo", location: "Localhost Arena", start_time: "2030-01-01T19:00:00Z", end_time: "2030-01-01T23:00:00Z", seats },
  adminToken,
);
console.log(`event ${event.id} with ${seats.length} seats`);

const buyer = async (name: string) => {
  const tag = randomBytes(3).toString("hex");
  const r = await call("POST", "/api/users/create", { user_params: { username: `${name}-${tag}`, email: `${name}-${tag}@example.com`, password_hash: "demo-password" } });
  return { name, token: r.token as string };
};

const join = (who: { name: string; token: string }, port: string) =>
  new Promise<any>((resolve, reject) => {
    const socket = new Socket(`ws://localhost:${port}/socket`, { transport: WebSocket as any, params: { token: who.token } });
    socket.connect();
    const channel = socket.channel(`seats:${event.id}`, {});
    for (const ev of ["locked", "unlocked", "lockedForYou", "unlockedForYou", "deleted"])
      channel.on(ev, (p: unknown) => console.log(`  ${who.name} (node :${port}) hears ${ev} ${JSON.stringify(p)}`));
    channel
      .join()
      .receive("ok", (reply: any) => {
        console.log(`${who.name} joined on :${port}, snapshot seq ${reply.seq}`);
        resolve({ socket, channel });
      })
      .receive("error", reject);
  });

const alice = await join(await buyer("alice"), portA!);
const bob = await join(await buyer("bob"), portB!);
const push = (c: any, ev: string, payload: object) =>
  new Promise((resolve) => c.channel.push(ev, payload).receive("ok", resolve).receive("error", resolve));

console.log("alice locks A_1:", JSON.stringify(await push(alice, "lock", { seat: "A_1" })));
console.log("bob locks A_1:  ", JSON.stringify(await push(bob, "lock", { seat: "A_1" })));
console.log("bob locks A_2:  ", JSON.stringify(await push(bob, "lock", { seat: "A_2" })));
await new Promise((r) => setTimeout(r, 300));
console.log("alice unlocks A_1:", JSON.stringify(await push(alice, "unlock", { seat: "A_1" })));
await new Promise((r) => setTimeout(r, 300));
alice.socket.disconnect();
bob.socket.disconnect();
console.log(`done: watch it yourself with event ${event.id}`);
process.exit(0);
