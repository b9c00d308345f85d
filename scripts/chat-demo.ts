/**
 * `npm run demo:chat`, against a running `npm start`: the chat service end to end. The admin creates an
 * event through the chat service's route (its chat room starts inactive) and issues two tickets; alice and bob
 * sign up, alice assigns her ticket to herself, bob enters his ticket number when he joins; each
 * connects with the stock `phoenix` client to a DIFFERENT ws-node. They see each other before the
 * room opens but cannot write; the worker opens the room (alice's notification arrives live), then
 * they chat and type. Reads API_PORT, WS_PORTS, ADMIN_EMAIL, ADMIN_PASSWORD and
 * CHAT_ACTIVATE_BEFORE_MS (the same values `npm start` was given); those not set come from the
 * file a development `npm start` writes (`.sdc-dev.env`, scripts/dev-env.ts).
 */
import { randomBytes } from "node:crypto";
import { Presence, Socket, type Channel } from "phoenix";
import WebSocket from "ws";
import { devEnvFile, loadDevEnv } from "./dev-env.ts";

const devEnv = loadDevEnv();
const api = `http://localhost:${process.env.API_PORT ?? 3000}`;
const [portA, portB] = (process.env.WS_PORTS ?? "4000,4001").split(",").map((p) => p.trim());
const adminEmail = process.env.ADMIN_EMAIL ?? "admin@example.com";
const adminPassword = process.env.ADMIN_PASSWORD;
const leadMs = Number(process.env.CHAT_ACTIVATE_BEFORE_MS ?? 7_200_000);
/** The room opens this long after the demo starts. */
const OPENS_IN_MS = 8000;
if (!adminPassword) {
  console.error(`demo:chat: no ${devEnv ? "complete " : ""}${devEnvFile()} (a development \`npm start\` writes it while it runs): start the cluster with \`npm start\` first, or set ADMIN_PASSWORD (and CHAT_ACTIVATE_BEFORE_MS if you changed it) to the values it was started with`);
  process.exit(2);
}

async function call(method: string, path: string, body?: unknown, token?: string): Promise<any> {
  const r = await fetch(api + path, {
    method,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = r.status === 204 ? null : await r.json();
  if (!r.ok) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(json)}`);
  return json;
}

const { token: admin } = await call("POST", "/api/users/sign_in", { email: adminEmail, password_hash: adminPassword });
const start = new Date(Date.now() + leadMs + OPENS_IN_MS);
const event = await call(
  "POST",
  "/api/events/create_event",
  { event: { name: "Chat demo", description: "npm run demo:chat", location: "Antalya", start_time: start.toISOString(), end_time: new Date(start.getTime() + 3_600_000).toISOString() } },
  admin,
);
console.log(`event ${event.id}, chat room ${event.chat_room.id} (${event.chat_room.status}); it opens in ${OPENS_IN_MS / 1000} s`);

const tag = randomBytes(3).toString("hex");
const tickets = [];
for (const who of ["alice", "bob"]) {
  const { ticket } = await call("POST", "/api/tickets/create", { ticket: { ticket_number: `DEMO-${tag}-${who}`, event_id: event.id } }, admin);
  tickets.push(ticket);
}
const signUp = async (name: string) => {
  const r = await call("POST", "/api/users/create", { user_params: { username: `${name}-${tag}`, email: `${name}-${tag}@example.com`, password_hash: "demo-password" } });
  return { name, id: r.user.id as string, token: r.token as string };
};
const alice = await signUp("alice");
const bob = await signUp("bob");
await call("PATCH", `/api/tickets/${tickets[0].id}/assign/${alice.id}`, undefined, alice.token);
console.log(`tickets ${tickets[0].ticket_number} (assigned to alice) and ${tickets[1].ticket_number} (bob will enter it)`);

function connect(who: { name: string; token: string }, port: string): Socket {
  const socket = new Socket(`ws://localhost:${port}/socket`, { transport: WebSocket as any, params: { token: who.token } });
  socket.connect();
  return socket;
}
function joinRoom(who: { name: string; token: string }, socket: Socket, port: string, params: object): Promise<Channel> {
  const channel = socket.channel(`event:${event.id}`, params);
  const presence = new Presence(channel);
  presence.onSync(() => console.log(`  ${who.name} (node :${port}) sees online: ${presence.list((id: string) => (id === alice.id ? "alice" : id === bob.id ? "bob" : id)).join(", ")}`));
  channel.on("new_message", (m: any) => console.log(`  ${who.name} (node :${port}) hears new_message ${JSON.stringify(m)}`));
  channel.on("user_typing", (t: any) => console.log(`  ${who.name} (node :${port}) hears user_typing ${JSON.stringify(t)}`));
  channel.on("room_status", (s: any) => console.log(`  ${who.name} (node :${port}) hears room_status ${JSON.stringify(s)}`));
  return new Promise((resolve, reject) =>
    channel
      .join()
      .receive("ok", (r: any) => {
        console.log(`${who.name} joined on :${port}: room ${r.status}, ${r.messages.length} messages`);
        resolve(channel);
      })
      .receive("error", (e: unknown) => reject(new Error(`${who.name} could not join: ${JSON.stringify(e)}`))),
  );
}
const push = (c: Channel, ev: string, payload: object) =>
  new Promise<any>((resolve) => c.push(ev, payload).receive("ok", (r: any) => resolve({ ok: r })).receive("error", (r: any) => resolve({ error: r })));

const aliceSocket = connect(alice, portA!);
const opened = new Promise<void>((resolve) => {
  const personal = aliceSocket.channel(`user:${alice.id}`, {});
  personal.on("notification", (n: any) => {
    console.log(`  alice (node :${portA}) hears notification ${JSON.stringify(n.message)}`);
    resolve();
  });
  personal.join();
});
const a = await joinRoom(alice, aliceSocket, portA!, {});
const b = await joinRoom(bob, connect(bob, portB!), portB!, { ticket_number: tickets[1].ticket_number });
console.log("alice writes before the room opens:", JSON.stringify(await push(a, "new_message", { content: "anyone here?" })));

console.log("waiting for the worker to open the room…");
await opened;
await new Promise((r) => setTimeout(r, 200));
console.log("alice writes:", JSON.stringify(await push(a, "new_message", { content: "Hi Bob! See you at the concert." })));
await push(b, "user_typing", { typing: true });
await new Promise((r) => setTimeout(r, 300));
console.log("bob writes:  ", JSON.stringify(await push(b, "new_message", { content: "Hi Alice, front row!" })));
await push(b, "user_typing", { typing: false });
await new Promise((r) => setTimeout(r, 500));
console.log(`done: chat room of event ${event.id}; GET ${api}/api/users/me/notifications lists alice's notification`);
process.exit(0);
