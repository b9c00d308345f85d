// The seat-map page: the reference client of the cluster, plain JavaScript and the stock Phoenix client.
// Watch an event's seats live (`changes` protocol), hold seats with a countdown, extend, order, pay
// (development provider), see my orders and tickets, and talk in the event's chat as a ticket holder.
import { Presence, Socket } from "/vendor/phoenix.mjs";

// Where the WebSocket nodes are: `?ws=` picks another node, but only on this page's own host (the
// socket carries the user's token: a link must never send it elsewhere); else the API's default.
const params = new URLSearchParams(location.search);
const sameHost = (u) => { try { return new URL(u).hostname === location.hostname; } catch { return false; } };
const wsUrl = params.get("ws") && sameHost(params.get("ws")) ? params.get("ws") : window.SEATDROP_WS_URL;
const devPayments = window.SEATDROP_DEV_PAYMENTS === true;
const money = new Intl.NumberFormat(undefined, { style: "currency", currency: window.SEATDROP_CURRENCY || "EUR" });
const $ = (id) => document.getElementById(id);
function append(node, children) { for (const c of children) if (c !== null && c !== undefined) node.append(c); return node; }

let token = localStorage.getItem("seatdrop.token") || "";
let me = JSON.parse(localStorage.getItem("seatdrop.user") || "null");
let socket, channel, eventId, epoch, event;
const seats = new Map(); // id -> state, every seat of the layout (of the watched sections)
const layoutById = new Map(); // id -> {id, section, row, number, price}
let hold = null; // {seats: [], expires_at, extensions_left}
let orders = [];
const eventNames = new Map();
// `?sections=floor,balcony` watches only those sections (the join then covers only their seats).
const sections = params.get("sections") ? params.get("sections").split(",").filter(Boolean) : null;
// The `changes` protocol keeps one seq per stream: the whole event (""), or each section watched.
const seqOf = new Map();
let layoutIds = [];

function log(line) { const l = $("log"); l.textContent = `${new Date().toLocaleTimeString()} ${line}\n` + l.textContent.slice(0, 20_000); }
function status(text) { $("status").textContent = text; }
function notice(text) { $("notice").textContent = text; }

class HttpError extends Error {}
async function api(method, path, body) {
  const sent = token;
  const r = await fetch(path, { method, headers: { ...(body ? { "content-type": "application/json" } : {}), ...(sent ? { authorization: `Bearer ${sent}` } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const json = await r.json().catch(() => ({}));
  if (r.status === 401 && sent && sent === token) sessionEnded(json.error || "invalid_token");
  if (!r.ok) throw Object.assign(new HttpError(json.message || r.statusText), { body: json, status: r.status });
  return json;
}

// ---- the map -------------------------------------------------------------------------------------

// The layout (ids, sections, rows, prices) is static and cacheable: the browser revalidates it with
// its ETag (304) instead of downloading it again; the live channel sends only the taken seats.
async function loadLayout() {
  const layout = await api("GET", `/api/events/${eventId}/layout`);
  layoutById.clear();
  for (const s of layout.seats) if (!sections || sections.includes(s.section)) layoutById.set(s.id, s);
  layoutIds = [...layoutById.keys()];
}

const rowOf = (s) => s.row ?? s.id.split("_")[0];
const labelOf = (s) => String(s.number ?? s.id.split("_").slice(1).join("_"));
const priceRange = (list) => {
  const ps = list.map((s) => s.price);
  const lo = Math.min(...ps), hi = Math.max(...ps);
  return lo === hi ? money.format(lo) : `${money.format(lo)}–${money.format(hi)}`;
};

function renderMap() {
  const bySection = new Map();
  for (const id of seats.keys()) {
    const s = layoutById.get(id) ?? { id, price: 0 };
    const sec = s.section ?? "";
    if (!bySection.has(sec)) bySection.set(sec, new Map());
    const rows = bySection.get(sec);
    if (!rows.has(rowOf(s))) rows.set(rowOf(s), []);
    rows.get(rowOf(s)).push(s);
  }
  let cols = 1;
  for (const rows of bySection.values()) for (const list of rows.values()) cols = Math.max(cols, list.length);
  const box = $("seats");
  box.style.setProperty("--cols", String(cols));
  box.replaceChildren();
  for (const [sec, rows] of bySection) {
    const all = [...rows.values()].flat();
    const free = all.filter((s) => seats.get(s.id) === "available").length;
    const block = append(Object.assign(document.createElement("div"), { className: "section" }), [
      append(document.createElement("h3"), [sec || "Seats", append(Object.assign(document.createElement("span"), { className: "price" }), [`${priceRange(all)} · ${free} of ${all.length} free`])]),
    ]);
    block.dataset.section = sec;
    for (const [row, list] of rows) {
      const div = Object.assign(document.createElement("div"), { className: "row" });
      div.append(Object.assign(document.createElement("b"), { textContent: row }));
      for (const s of list) {
        const state = seats.get(s.id);
        const mine = hold?.seats.includes(s.id);
        const b = document.createElement("button");
        b.className = `seat ${mine ? "mine" : state}`;
        b.textContent = labelOf(s);
        b.title = `${sec ? `${sec} · ` : ""}row ${row} · seat ${labelOf(s)} · ${money.format(s.price)} · ${mine ? "yours" : state === "locked" ? "taken" : state}`;
        b.setAttribute("aria-label", b.title);
        b.dataset.seat = s.id;
        b.dataset.state = mine ? "mine" : state;
        b.onclick = () => click(s.id);
        div.append(b);
      }
      block.append(div);
    }
    box.append(block);
  }
}

function renderHold() {
  const list = $("hold-seats");
  list.replaceChildren();
  const held = hold?.seats ?? [];
  for (const id of held) {
    const s = layoutById.get(id);
    list.append(append(document.createElement("li"), [`${s?.section ? `${s.section} · ` : ""}${id}`, append(document.createElement("span"), [money.format(s?.price ?? 0)])]));
  }
  if (held.length === 0) list.append(append(Object.assign(document.createElement("li"), { className: "muted" }), [token ? "Tap a free seat to hold it." : "Sign in to hold seats."]));
  const total = held.reduce((sum, id) => sum + (layoutById.get(id)?.price ?? 0), 0);
  $("total").textContent = money.format(total);
  $("total").dataset.cents = String(Math.round(total * 100));
  $("buy").disabled = held.length === 0;
  $("buy").textContent = held.length ? `Order ${held.length} seat${held.length > 1 ? "s" : ""}` : "Order";
  const left = hold?.extensions_left;
  $("extend").disabled = held.length === 0 || left === 0;
  $("extend").textContent = left === undefined || left === null ? "Extend" : `Extend (${left} left)`;
  $("extend").dataset.left = String(left ?? "");
  document.body.classList.toggle("holding", held.length > 0);
  tick();
}

function render() { renderMap(); renderHold(); }

// The hold's countdown, from the deadline the server gave (lock and extend replies, join reply).
function tick() {
  const c = $("countdown");
  if (!hold?.seats.length || !hold.expires_at) { c.textContent = ""; c.classList.remove("low"); return; }
  const ms = hold.expires_at - Date.now();
  if (ms <= 0) { c.textContent = "releasing…"; return; }
  const s = Math.ceil(ms / 1000);
  c.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")} left`;
  c.classList.toggle("low", s <= 60);
}
setInterval(tick, 1000);

function mineSeat(s, add) {
  hold = hold || { seats: [], expires_at: null, extensions_left: event?.hold_max_extensions ?? null };
  hold.seats = add ? [...new Set([...hold.seats, s])] : hold.seats.filter((x) => x !== s);
  if (hold.seats.length === 0) hold = null;
}

// Final states of seats; a seat of my hold that is no longer locked has left the hold.
function applySeats(changed) {
  for (const [id, state] of Object.entries(changed)) {
    if (!seats.has(id)) continue; // not a seat of the watched layout
    seats.set(id, state);
    if (state !== "locked" && hold?.seats.includes(id)) mineSeat(id, false);
  }
}

// Personal frames stay immediate: replies to my own pushes, and my hold's release.
function applyPersonal(ev, p) {
  switch (ev) {
    case "lockedForYou": seats.set(p.seat, "locked"); mineSeat(p.seat, true); break;
    case "unlockedForYou": seats.set(p.seat, "available"); mineSeat(p.seat, false); break;
    case "deleted": for (const s of p.seats) { seats.set(s, "available"); mineSeat(s, false); } status(`Your hold ${p.reason === "expired" ? "ran out" : p.reason}: its seats were released.`); break;
  }
  log(`${ev} ${p.seat ?? (p.seats || []).join(",")} #${p.seq ?? ""}`);
  render();
}

// One coalesced frame per stream and tick. `since` above the seq I hold for that stream means I
// missed a frame: rejoin with last_seq (the reply carries what changed since). `since` at or below
// it is applied: final states are idempotent (a join lands between two flushes).
function applyChanges(p) {
  const stream = p.section ?? "";
  const held = seqOf.get(stream);
  if (!joined || held === undefined) return; // not joined yet: the join's reply covers it
  if (p.since > held) { log(`missed a frame (since ${p.since} > ${held}); catching up`); return resync(); }
  applySeats(p.seats);
  seqOf.set(stream, Math.max(held, p.seq));
  log(`changes ${Object.entries(p.seats).map(([s, st]) => `${s}=${st}`).join(" ")} #${p.since}→${p.seq}`);
  render();
}

// ---- the socket ----------------------------------------------------------------------------------

// A refused token (expired, revoked, or signed with another JWT_SECRET after a restart) makes the
// server refuse the upgrade with 401, which a browser's WebSocket only sees as an error: the stock
// client would retry forever, with no seats (issue 9). After an error, one API call with the same
// token tells a refused token from a network fault.
let checking = false;
async function checkToken() {
  if (!token || checking) return;
  checking = true;
  try { await api("GET", "/api/users/me/orders"); } catch { /* api() ends the session on a 401; other failures are the network */ } finally { checking = false; }
}

function sessionEnded(reason) {
  if (!token) return;
  token = ""; me = null; orders = [];
  localStorage.removeItem("seatdrop.token"); localStorage.removeItem("seatdrop.user");
  notice(`Your session ended (${reason}): sign in again.`);
  showUser(); renderOrders(); connect();
}

function connect() {
  if (socket) socket.disconnect();
  const s = new Socket(wsUrl, { params: () => (token ? { token } : {}) });
  socket = s;
  s.onOpen(() => { if (s === socket) $("conn").textContent = "live"; });
  s.onError(() => { if (s !== socket) return; $("conn").textContent = "connection lost; reconnecting…"; void checkToken(); });
  // 4401: the token was revoked (signed out elsewhere); every node closes its sockets.
  s.onClose((e) => { if (s === socket && e?.code === 4401) sessionEnded("token_revoked"); });
  s.connect();
  chatChannel = null;
  if (eventId) join();
}

const lastSeq = () => Math.min(...seqOf.values());

async function join() {
  if (channel) channel.leave();
  leaveChat();
  seats.clear(); seqOf.clear(); hold = null; epoch = undefined; render();
  try {
    [event] = await Promise.all([api("GET", `/api/events/${eventId}`), loadLayout()]);
  } catch (e) { return status(`Cannot load this event: ${e.message}`); }
  const start = new Date(event.start_time);
  $("event-info").replaceChildren(append(document.createElement("h2"), [event.name]), append(Object.assign(document.createElement("div"), { className: "muted" }), [`${event.location} · ${start.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`]));
  openChannel();
  syncChat();
}

// The params are read at every (re)join, so the stock client's own rejoins catch up with last_seq.
let joined = false;
function openChannel() {
  joined = false;
  channel = socket.channel(`seats:${eventId}`, () => ({ changes: true, ...(sections ? { sections } : {}), ...(epoch ? { last_seq: lastSeq(), epoch } : {}) }));
  channel.on("changes", applyChanges);
  for (const ev of ["lockedForYou", "unlockedForYou", "deleted"]) channel.on(ev, (p) => applyPersonal(ev, p));
  channel.onError(() => { joined = false; }); // the stock client rejoins by itself, with last_seq
  channel.join()
    .receive("ok", (r) => {
      if (r.mode === "snapshot") { seats.clear(); for (const id of layoutIds) seats.set(id, "available"); }
      applySeats(r.seats);
      epoch = r.epoch; hold = r.hold;
      for (const s of r.sections ?? [""]) seqOf.set(s, r.seq);
      joined = true;
      $("seats").dataset.ready = "true";
      log(`joined (${r.mode}, seq ${r.seq}, ${Object.keys(r.seats).length} taken)`);
      render();
    })
    .receive("error", (e) => status(`Cannot watch this event: ${e.reason}${e.message ? ` (${e.message})` : ""}`));
}

// A missed frame: join again from where this map is (the reply brings the missed final states).
function resync() {
  if (channel) channel.leave();
  openChannel();
}

const why = (e) => `${e.reason}${e.message ? ` (${e.message})` : ""}`;

function click(seat) {
  if (!token) return status("Sign in to hold seats.");
  const mine = hold?.seats.includes(seat);
  if (!mine && seats.get(seat) !== "available") return status(`${seat} is ${seats.get(seat) === "locked" ? "held by someone else" : seats.get(seat)}.`);
  channel.push(mine ? "unlock" : "lock", { seat })
    .receive("ok", (r) => {
      if (!mine) {
        mineSeat(seat, true);
        if (r.expires_at) hold.expires_at = r.expires_at;
        if (r.hold_size === 1 || hold.extensions_left === null) hold.extensions_left = event?.hold_max_extensions ?? null;
      } else mineSeat(seat, false);
      status(`${mine ? "Released" : "Holding"} ${seat}.`);
      render();
    })
    .receive("error", (e) => status(`${seat}: ${why(e)}`));
}

$("extend").onclick = () => {
  channel.push("extend", {})
    .receive("ok", (r) => { if (hold) { hold.expires_at = r.expires_at; hold.extensions_left = r.extensions_left; } status("Hold extended."); renderHold(); })
    .receive("error", (e) => status(`Cannot extend: ${why(e)}`));
};

$("buy").onclick = async () => {
  $("buy").disabled = true;
  try {
    const o = await api("POST", "/api/orders", { event_id: eventId });
    hold = null;
    status(`Order placed: ${o.items.length} seat${o.items.length > 1 ? "s" : ""}, ${money.format(o.total)}. ${devPayments ? "Pay it below." : "Pay it with your payment provider."}`);
    await loadOrders();
    render();
    // On a phone the orders are below the map: bring the new one (and its Pay button) into view.
    document.querySelector(`[data-order-id="${o.id}"]`)?.scrollIntoView({ block: "nearest", behavior: "smooth" });
  } catch (e) { status(`Order refused: ${e.body?.error ?? e.message}`); renderHold(); }
};

// ---- my orders -----------------------------------------------------------------------------------

async function loadOrders() {
  if (!token) { orders = []; return renderOrders(); }
  try { ({ orders } = await api("GET", "/api/users/me/orders")); } catch (e) { if (e.status !== 401) status(`Cannot load your orders: ${e.message}`); }
  renderOrders();
  syncChat();
}

function renderOrders() {
  $("orders-card").hidden = !token;
  const box = $("orders");
  box.replaceChildren();
  if (orders.length === 0) box.append(Object.assign(document.createElement("p"), { className: "muted", textContent: "No orders yet." }));
  for (const o of orders) {
    const card = Object.assign(document.createElement("div"), { className: "order" });
    card.dataset.testid = "order";
    card.dataset.orderId = o.id;
    card.dataset.status = o.status;
    card.append(append(Object.assign(document.createElement("div"), { className: "line" }), [
      append(document.createElement("b"), [eventNames.get(o.event_id) ?? "Event"]),
      append(Object.assign(document.createElement("span"), { className: `badge ${o.status}` }), [o.status]),
    ]));
    card.append(append(Object.assign(document.createElement("div"), { className: "line" }), [
      append(document.createElement("span"), [o.items.map((i) => i.seat_id).join(", ")]),
      append(document.createElement("span"), [money.format(o.total)]),
    ]));
    if (o.status === "pending") {
      card.append(append(Object.assign(document.createElement("div"), { className: "muted" }), [`Pay by ${new Date(o.expires_at).toLocaleTimeString()}`]));
      const actions = Object.assign(document.createElement("div"), { className: "actions" });
      if (devPayments) {
        const pay = Object.assign(document.createElement("button"), { className: "primary", textContent: "Pay" });
        pay.dataset.testid = "pay";
        pay.onclick = () => {
          // The payment page comes back to this very map (same event, same `?ws=`); kept in this
          // tab's storage, not in the link, so no link can send a buyer elsewhere after paying.
          sessionStorage.setItem("seatdrop.return", location.pathname + location.search);
          location.href = `/dev/pay?${new URLSearchParams({ order: o.id })}`;
        };
        actions.append(pay);
      }
      const cancel = Object.assign(document.createElement("button"), { textContent: "Cancel" });
      cancel.onclick = async () => { try { await api("POST", `/api/orders/${o.id}/cancel`); await loadOrders(); } catch (e) { status(`Cannot cancel: ${e.body?.error ?? e.message}`); } };
      actions.append(cancel);
      card.append(actions);
    }
    if (o.tickets.length) {
      const list = Object.assign(document.createElement("ul"), { className: "tickets" });
      for (const t of o.tickets) {
        const li = append(document.createElement("li"), [`${t.ticket_number}${t.seat_id ? ` · ${t.seat_id}` : ""}${t.status === "valid" ? "" : ` (${t.status})`}`]);
        li.dataset.testid = "ticket";
        list.append(li);
      }
      card.append(list);
    }
    box.append(card);
  }
}

// ---- the event's chat (ticket holders) -----------------------------------------------------------

let chatChannel = null, presence = null, room = null;
const shownMessages = new Set();
const typingUsers = new Map(); // user id -> timer
const nameOf = (userId) => (userId === me?.id ? "you" : `buyer ${userId.slice(0, 4)}`);
const hasTicket = () => orders.some((o) => o.event_id === eventId && o.status === "paid" && o.tickets.some((t) => t.status === "valid"));

function syncChat() {
  const show = !!token && !!eventId && hasTicket();
  $("chat").hidden = !show;
  if (show && !chatChannel && socket) joinChat();
  if (!show) leaveChat();
}

function leaveChat() {
  if (chatChannel) chatChannel.leave();
  chatChannel = null; presence = null;
  shownMessages.clear(); $("messages").replaceChildren(); $("online").textContent = ""; $("typing").textContent = "";
}

async function joinChat() {
  const ch = socket.channel(`event:${eventId}`, {});
  chatChannel = ch;
  presence = new Presence(ch);
  presence.onSync(() => {
    const ids = presence.list((id) => id);
    $("online").textContent = `· ${ids.length} online: ${ids.map(nameOf).join(", ")}`;
    $("online").dataset.count = String(ids.length);
  });
  ch.on("new_message", addMessage);
  ch.on("messages", (p) => { for (const m of p.messages ?? []) addMessage(m); });
  ch.on("user_typing", ({ user_id, typing }) => {
    clearTimeout(typingUsers.get(user_id));
    if (typing) typingUsers.set(user_id, setTimeout(() => { typingUsers.delete(user_id); renderTyping(); }, 5000));
    else typingUsers.delete(user_id);
    renderTyping();
  });
  ch.on("room_status", (s) => { room = { ...room, status: s.status }; renderRoom(); });
  ch.on("access_revoked", (p) => { $("chat-status").textContent = p.message; });
  ch.join()
    .receive("ok", (r) => {
      room = { status: r.status };
      for (const m of r.messages) addMessage(m);
      renderRoom();
      if (r.status !== "active") api("GET", `/api/events/${eventId}/chat_room`).then((c) => { room = { ...room, activates_at: c.activates_at }; renderRoom(); }).catch(() => {});
    })
    .receive("error", (e) => { $("chat-status").textContent = `You cannot enter the chat: ${why(e)}`; });
}

function renderRoom() {
  const active = room?.status === "active";
  $("chat").dataset.status = room?.status ?? "";
  $("chat-status").textContent = active ? "Only ticket holders of this event are here." : `The room opens ${room?.activates_at ? `at ${new Date(room.activates_at).toLocaleString()}` : "before the event"}; you can see who is here until then.`;
  $("chat-input").disabled = !active;
}

function renderTyping() {
  const names = [...typingUsers.keys()].filter((id) => id !== me?.id).map(nameOf);
  $("typing").textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
}

function addMessage(m) {
  if (shownMessages.has(m.id)) return; // a message sent while joining is in the reply and as new_message
  shownMessages.add(m.id);
  typingUsers.delete(m.user_id); renderTyping();
  const li = append(Object.assign(document.createElement("li"), { className: m.user_id === me?.id ? "me" : "" }), [
    append(Object.assign(document.createElement("span"), { className: "who" }), [`${nameOf(m.user_id)} · ${new Date(m.inserted_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`]),
    m.content,
  ]);
  li.dataset.testid = "message";
  $("messages").append(li);
  $("messages").scrollTop = $("messages").scrollHeight;
}

let typingSent = 0, typingStop;
$("chat-input").oninput = () => {
  if (!chatChannel) return;
  // The server passes one notice of each kind per second; sending more is wasted frames.
  if (Date.now() - typingSent > 1500) { typingSent = Date.now(); chatChannel.push("user_typing", { typing: true }); }
  clearTimeout(typingStop);
  typingStop = setTimeout(() => { typingSent = 0; chatChannel?.push("user_typing", { typing: false }); }, 3000);
};
$("chat-form").onsubmit = (ev) => {
  ev.preventDefault();
  const content = $("chat-input").value.trim();
  if (!content || !chatChannel) return;
  chatChannel.push("new_message", { content })
    .receive("ok", ({ id, inserted_at }) => { addMessage({ id, user_id: me.id, content, inserted_at }); $("chat-input").value = ""; })
    .receive("error", (e) => { $("chat-status").textContent = `Not sent: ${why(e)}`; });
};

// ---- signing in ----------------------------------------------------------------------------------

function signedIn(r) {
  token = r.token; me = r.user;
  localStorage.setItem("seatdrop.token", token); localStorage.setItem("seatdrop.user", JSON.stringify(me));
  notice(""); status(""); // an earlier "sign in failed" or "session ended" no longer applies
  showUser(); connect(); void loadOrders();
}

$("signin").onsubmit = async (ev) => {
  ev.preventDefault();
  try { signedIn(await api("POST", "/api/users/sign_in", { email: $("email").value, password_hash: $("password").value })); }
  catch (e) { notice(`Sign in failed: ${e.body?.message ?? e.message}`); }
};
$("signup").onclick = async () => {
  if (!$("signin").reportValidity()) return;
  const email = $("email").value;
  const username = `${email.split("@")[0].replace(/[^A-Za-z0-9_.-]/g, "")}-${Math.random().toString(36).slice(2, 6)}`;
  try { signedIn(await api("POST", "/api/users/create", { user_params: { username, email, password_hash: $("password").value } })); }
  catch (e) { notice(`Sign up failed: ${e.body?.errors?.[0]?.message ?? e.body?.message ?? e.message}`); }
};
$("signout").onclick = async () => {
  // Revoke the token on the server too (every node closes its sockets); the page forgets it anyway.
  api("POST", "/api/users/sign_out").catch(() => {});
  token = ""; me = null; orders = [];
  localStorage.removeItem("seatdrop.token"); localStorage.removeItem("seatdrop.user");
  showUser(); renderOrders(); connect();
};
function showUser() {
  $("who").textContent = me ? `signed in as ${me.username}` : "watching anonymously";
  $("signin").hidden = !!me; $("signout").hidden = !me;
  renderHold();
}

$("event").onchange = () => {
  eventId = $("event").value;
  history.replaceState(null, "", `?${new URLSearchParams({ ...Object.fromEntries(params), event: eventId })}`);
  join();
};

const { events } = await api("GET", "/api/events");
for (const e of events) {
  eventNames.set(e.id, e.name);
  $("event").append(new Option(`${e.name} · ${new Date(e.start_time).toLocaleDateString()} · ${e.seat_count} seats`, e.id));
}
eventId = params.get("event") || events[0]?.id;
if (eventId) $("event").value = eventId;
else status("No events yet: create one (README, \"Create an event\") or run `npm run demo`, then reload.");
showUser();
renderOrders();
connect();
void loadOrders();
