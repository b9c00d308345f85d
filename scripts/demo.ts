/**
 * `npm run demo`, against a running `npm start`: creates an event through the API, signs two
 * buyers up, connects each with the stock `phoenix` client to a DIFFERENT ws-node, and shows
 * each one seeing the other's locks; then each buyer orders and pays (a signed webhook, as the
 * payment provider would send it) until the event is sold out, and the seat map from the API is
 * compared with the orders in PostgreSQL. Reads API_PORT, WS_PORTS, ADMIN_EMAIL, ADMIN_PASSWORD
 * and PAYMENT_WEBHOOK_SECRET (the same values `npm start` was given); those not set come from the
 * file a development `npm start` writes (`.sdc-dev.env`, scripts/dev-env.ts).
 */
import { createHmac, randomBytes } from "node:crypto";
import { Socket } from "phoenix";
import WebSocket from "ws";
import { devEnvFile, loadDevEnv } from "./dev-env.ts";

const devEnv = loadDevEnv();
const api = `http://localhost:${process.env.API_PORT ?? 3000}`;
const [portA, portB] = (process.env.WS_PORTS ?? "4000,4001").split(",").map((p) => p.trim());
const adminEmail = process.env.ADMIN_EMAIL ?? "admin@example.com";
const adminPassword = process.env.ADMIN_PASSWORD;
const webhookSecret = process.env.PAYMENT_WEBHOOK_SECRET;
if (!adminPassword || !webhookSecret) {
  console.error(`demo: no ${devEnv ? "complete " : ""}${devEnvFile()} (a development \`npm start\` writes it while it runs): start the cluster with \`npm start\` first, or set ADMIN_PASSWORD and PAYMENT_WEBHOOK_SECRET to the values it was started with`);
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

// Every client the project ships opts in to `changes`: the layout comes from the cacheable
// layout endpoint, the join sends only taken seats, and updates arrive coalesced per tick.
const layout = await call("GET", `/api/events/${event.id}/layout`);
console.log(`layout: ${layout.seat_count} seats in sections ${layout.sections.join(", ")}`);

const join = (who: { name: string; token: string }, port: string) =>
  new Promise<any>((resolve, reject) => {
    const socket = new Socket(`ws://localhost:${port}/socket`, { transport: WebSocket as any, params: { token: who.token } });
    socket.connect();
    const channel = socket.channel(`seats:${event.id}`, { changes: true });
    channel.on("changes", (p: any) => console.log(`  ${who.name} (node :${port}) hears changes #${p.since}→${p.seq} ${JSON.stringify(p.seats)}`));
    for (const ev of ["lockedForYou", "unlockedForYou", "deleted"])
      channel.on(ev, (p: unknown) => console.log(`  ${who.name} (node :${port}) hears ${ev} ${JSON.stringify(p)}`));
    channel
      .join()
      .receive("ok", (reply: any) => {
        console.log(`${who.name} joined on :${port}, snapshot seq ${reply.seq}, taken ${JSON.stringify(reply.seats)}`);
        resolve({ socket, channel });
      })
      .receive("error", reject);
  });

const aliceUser = await buyer("alice");
const bobUser = await buyer("bob");
const alice = await join(aliceUser, portA!);
const bob = await join(bobUser, portB!);
const push = (c: any, ev: string, payload: object) =>
  new Promise((resolve) => c.channel.push(ev, payload).receive("ok", resolve).receive("error", resolve));

console.log("alice locks A_1:", JSON.stringify(await push(alice, "lock", { seat: "A_1" })));
console.log("bob locks A_1:  ", JSON.stringify(await push(bob, "lock", { seat: "A_1" })));
console.log("bob locks A_2:  ", JSON.stringify(await push(bob, "lock", { seat: "A_2" })));
await new Promise((r) => setTimeout(r, 300));
console.log("alice unlocks A_1:", JSON.stringify(await push(alice, "unlock", { seat: "A_1" })));
await new Promise((r) => setTimeout(r, 300));

// Sell out: alice takes row A, bob row B; each turns the hold into an order and pays it.
const pay = async (orderId: string, amount: number, paymentId: string) => {
  const body = JSON.stringify({ payment_id: paymentId, order_id: orderId, amount, currency: "EUR", status: "succeeded" });
  const t = Math.floor(Date.now() / 1000);
  const sig = createHmac("sha256", webhookSecret!).update(`${t}.${body}`).digest("hex");
  const r = await fetch(`${api}/api/payments/webhook`, { method: "POST", headers: { "content-type": "application/json", "payment-signature": `t=${t},v1=${sig}` }, body });
  return r.json();
};
for (const [who, c, row] of [[aliceUser, alice, "A"], [bobUser, bob, "B"]] as const) {
  for (const n of [1, 2, 3, 4]) if (`${row}_${n}` !== "A_2") await push(c, "lock", { seat: `${row}_${n}` });
  if (row === "A") await push(bob, "unlock", { seat: "A_2" }).then(() => push(alice, "lock", { seat: "A_2" }));
  const order = await call("POST", "/api/orders", { event_id: event.id }, who.token);
  console.log(`${who.name} ordered ${order.items.map((i: any) => i.seat_id).join(", ")} for ${order.total} ${order.currency} (${order.status})`);
  const paid = await pay(order.id, order.total, `demo_${order.id}`);
  const after = await call("GET", `/api/orders/${order.id}`, undefined, who.token);
  console.log(`  payment: ${paid.result}; order ${after.status}; tickets ${after.tickets.map((t: any) => `${t.seat_id}=${t.ticket_number}`).join(" ")}`);
}
await new Promise((r) => setTimeout(r, 300));
const map = await call("GET", `/api/events/${event.id}/seats`);
console.log(`seat map: ${map.seats.map((s: any) => `${s.id}:${s.state}`).join(" ")}`);
const sold = [...(await call("GET", "/api/users/me/orders", undefined, aliceUser.token)).orders, ...(await call("GET", "/api/users/me/orders", undefined, bobUser.token)).orders]
  .filter((o: any) => o.status === "paid")
  .flatMap((o: any) => o.items.map((i: any) => i.seat_id))
  .sort();
const paidOnMap = map.seats.filter((s: any) => s.state === "paid").map((s: any) => s.id).sort();
console.log(`paid orders in PostgreSQL: ${sold.length} seats; paid on the live map: ${paidOnMap.length} seats; ${JSON.stringify(sold) === JSON.stringify(paidOnMap) ? "they agree" : "THEY DISAGREE"}`);
alice.socket.disconnect();
bob.socket.disconnect();
console.log(`done: watch it yourself with event ${event.id}`);
process.exit(0);
