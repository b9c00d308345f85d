// The seat-map page: the reference client of the cluster, plain JavaScript and the stock Phoenix client.
// Watch an event's seats live (`changes` protocol), hold seats with a countdown, extend, order, pay
// (development provider), see my orders and tickets, and talk in the event's chat as a ticket holder.
// An event with a waiting room shows the room first (queue:<event>): the place, an estimate, the
// verifiable draw; once admitted, the seat map joined with the room's pass, for the turn's length.
import { Presence, Socket } from "/vendor/phoenix.mjs";
import { SeatMapFollower } from "/map-follower.js";
import { explain, released } from "/wording.js";
import { createSeatCanvas } from "/seat-canvas.js";

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
let socket, channel, eventId, event;
const seats = new Map(); // id -> state, every seat of the layout (of the watched sections)
const layoutById = new Map(); // id -> {id, section, row, number, price}
let hold = null; // {seats: [], expires_at, extensions_left}
let orders = [];
const eventNames = new Map();
// `?sections=floor,balcony` watches only those sections (the join then covers only their seats);
// the filter belongs to the event it was given for, and is dropped when another event is picked.
let sections = params.get("sections") ? params.get("sections").split(",").filter(Boolean) : null;
// The map's position (one seq per stream: the whole event "", or each section watched, and the
// epoch) and the rules for each frame are the shared follower's, which keeps `seats` up to date.
let follower = new SeatMapFollower({ changes: true, seats });

function log(line) { const l = $("log"); l.textContent = `${new Date().toLocaleTimeString()} ${line}\n` + l.textContent.slice(0, 20_000); }
function status(text) { $("status").textContent = text; }
function notice(text) { $("notice").textContent = text; }

// The banner says what stops buying right now: the connection is down (the map may be stale, so
// clicks, Extend and Order wait), or the box office froze sales (holds are kept). Offline wins.
const blocked = { offline: false, frozen: false };
function setBlocked(kind, on) {
  blocked[kind] = on;
  document.body.classList.toggle(kind, on);
  const b = $("banner");
  const shown = blocked.offline ? "offline" : blocked.frozen ? "frozen" : null;
  b.hidden = !shown;
  b.dataset.kind = shown ?? "";
  b.textContent = shown === "offline" ? "Connection lost: reconnecting… The map may be out of date, so seats cannot be chosen until it is back."
    : shown === "frozen" ? "Sales are paused by the box office. Your hold is kept; you can continue when they reopen." : "";
  renderHold();
}
// While frozen, the event is read again now and then to see sales reopen (nothing is pushed for it).
let frozenPoll = null;
function salesPaused(paused) {
  setBlocked("frozen", paused);
  clearTimeout(frozenPoll);
  if (!paused) return;
  const id = eventId;
  frozenPoll = setTimeout(async () => {
    const e = await api("GET", `/api/events/${id}`).catch(() => null);
    if (id === eventId) salesPaused(e ? e.sales_paused : true);
  }, 10_000);
}

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
  follower = new SeatMapFollower({ changes: true, seats, layout: layoutById.keys() });
  map.setLayout([...layoutById.values()]);
  fillBestSections();
}

const rowOf = (s) => s.row ?? s.id.split("_")[0];
const labelOf = (s) => String(s.number ?? s.id.split("_").slice(1).join("_"));
const priceRange = (list) => {
  let lo = Infinity, hi = -Infinity;
  for (const s of list) { lo = Math.min(lo, s.price); hi = Math.max(hi, s.price); }
  return lo === hi ? money.format(lo) : `${money.format(lo)}–${money.format(hi)}`;
};

// A seat's state as this buyer sees it: "mine" for the seats of my hold.
const stateOf = (id) => (hold?.seats.includes(id) ? "mine" : seats.get(id));
const STATE_WORDS = { mine: "yours", available: "available", locked: "taken", reserved: "reserved", paid: "sold" };
const describeSeat = (id) => `${seatName(id)} · ${money.format(layoutById.get(id)?.price ?? 0)} · ${STATE_WORDS[stateOf(id)] ?? stateOf(id)}`;

// The map is a canvas (seat-canvas.js): a change repaints its seats' cells only, in the next frame.
// `timings` is what the page measures of itself (the stadium figures in docs/benchmarks.md): when
// the map was first live, and how long after a lock's reply the seat was shown as mine.
const timings = { readyMs: null, clickShownMs: [] };
const replied = new Map(); // seat -> when its lock's ok arrived, until the seat is painted
const map = createSeatCanvas(
  { canvas: $("map-canvas"), tip: $("seat-tip"), live: $("map-live"), sections: $("sections"), zoomIn: $("zoom-in"), zoomOut: $("zoom-out") },
  {
    stateOf,
    describe: describeSeat,
    pick: (id) => click(id),
    sectionLabel: (sec, free, total) => {
      sec.priceText ??= priceRange(sec.seats.map((r) => r.seat));
      return [append(document.createElement("b"), [sec.name || "Seats"]), append(Object.assign(document.createElement("span"), { className: "price" }), [`${sec.priceText} · ${free} of ${total} free`])];
    },
  },
);
map.onPainted = () => {
  const now = performance.now();
  for (const t of replied.values()) timings.clickShownMs.push(Math.round((now - t) * 10) / 10);
  replied.clear();
};
// For tests and the page benchmark: seats are found by id here, as they were by [data-seat].
window.seatMap = { map, timings, stateOf, describe: describeSeat, reveal: (id) => map.reveal(id), held: () => hold?.seats ?? [], get seatCount() { return map.seatCount; } };

/** Repaints the given seats (every seat without an argument) in the next frame. */
function renderMap(ids) { map.invalidate(ids); }

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
  const stopped = blocked.offline || blocked.frozen;
  $("buy").disabled = held.length === 0 || stopped;
  $("buy").textContent = held.length ? `Order ${held.length} seat${held.length > 1 ? "s" : ""}` : "Order";
  const left = hold?.extensions_left;
  $("extend").disabled = held.length === 0 || left === 0 || blocked.offline;
  $("extend").textContent = left === undefined || left === null ? "Extend" : `Extend (${left} left)`;
  $("extend").dataset.left = String(left ?? "");
  document.body.classList.toggle("holding", held.length > 0);
  tick();
}

function render(ids) { renderMap(ids); renderHold(); }

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

// After final states were applied: a seat of my hold that is no longer locked has left the hold.
function leftHold(changed) {
  for (const id of Object.keys(changed)) {
    if (!seats.has(id)) continue; // not a seat of the watched layout
    if (seats.get(id) !== "locked" && hold?.seats.includes(id)) mineSeat(id, false);
  }
}

// Personal frames stay immediate: replies to my own pushes, and my hold's release.
function applyPersonal(ev, p) {
  switch (ev) {
    case "lockedForYou": follower.apply(ev, p); mineSeat(p.seat, true); break;
    case "unlockedForYou": follower.apply(ev, p); mineSeat(p.seat, false); break;
    case "deleted": follower.apply(ev, p); for (const s of p.seats) mineSeat(s, false); status(`${released(p.reason)} Its seats are back on the map.`); break;
  }
  log(`${ev} ${p.seat ?? (p.seats || []).join(",")} #${p.seq ?? ""}`);
  render(p.seat ? [p.seat] : p.seats ?? []);
}

// One coalesced frame per stream and tick. `since` above the seq I hold for that stream means I
// missed a frame: rejoin with last_seq (the reply carries what changed since). `since` at or below
// it is applied: final states are idempotent (a join lands between two flushes).
function applyChanges(p) {
  const held = follower.seqOf.get(p.section ?? "");
  const result = follower.apply("changes", p);
  if (result === "ignored") return; // not joined yet: the join's reply covers it
  if (result === "resync") { log(`missed a frame (since ${p.since} > ${held}); catching up`); return resync(); }
  leftHold(p.seats);
  log(`changes ${Object.keys(p.seats).length} seats #${p.since}→${p.seq}`);
  render(Object.keys(p.seats));
}

// ---- the socket ----------------------------------------------------------------------------------

// A refused token (expired, revoked, or signed with another JWT_SECRET after a restart) makes the
// server refuse the upgrade with 401, which a browser's WebSocket only sees as an error: the stock
// client would retry forever, with no seats. After an error, one API call with the same
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
  s.onOpen(() => { if (s !== socket) return; $("conn").textContent = "live"; setBlocked("offline", false); });
  s.onError(() => { if (s !== socket) return; $("conn").textContent = "connection lost; reconnecting…"; setBlocked("offline", true); void checkToken(); });
  // 4401: the token was revoked (signed out elsewhere); every node closes its sockets.
  s.onClose((e) => { if (s === socket && e?.code === 4401) sessionEnded("token_revoked"); });
  s.connect();
  chatChannel = null;
  if (eventId) join();
}

let joinGen = 0; // a newer join() (another event, a sign-in) makes an older one's late answers moot
async function join() {
  const gen = ++joinGen;
  if (channel) channel.leave();
  channel = null;
  leaveChat();
  leaveRoom();
  follower.reset(); hold = null; render();
  let roomStatus = null;
  try {
    // 404 from the room's route: the event has no waiting room (the map as always).
    const room = api("GET", `/api/events/${eventId}/waiting_room`).catch((e) => { if (e.status === 404) return null; throw e; });
    [event, , roomStatus] = await Promise.all([api("GET", `/api/events/${eventId}`), loadLayout(), room]);
  } catch (e) { if (gen === joinGen) status(`Cannot load this event: ${e.body?.error ? explain(e.body) : e.message}`); return; }
  if (gen !== joinGen) return;
  salesPaused(event.sales_paused === true);
  const start = new Date(event.start_time);
  const info = () => [append(document.createElement("h2"), [event.name]), append(Object.assign(document.createElement("div"), { className: "muted" }), [`${event.location} · ${start.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`])];
  $("event-info").replaceChildren(...info());
  $("room-event").replaceChildren(...info());
  if (roomStatus) enterRoom(roomStatus);
  else { showView("map"); openChannel(); }
  syncChat();
}

// The params are read at every (re)join, so the stock client's own rejoins catch up with last_seq.
function openChannel() {
  follower.leave();
  // With a waiting room, the pass of my turn goes with every (re)join: without it locks are refused.
  channel = socket.channel(`seats:${eventId}`, () => ({ changes: true, ...(sections ? { sections } : {}), ...follower.rejoinParams(), ...(pass ? { pass } : {}) }));
  channel.on("changes", applyChanges);
  for (const ev of ["lockedForYou", "unlockedForYou", "deleted"]) channel.on(ev, (p) => applyPersonal(ev, p));
  channel.onError(() => follower.leave()); // the stock client rejoins by itself, with last_seq
  channel.join()
    .receive("ok", (r) => {
      // A catch-up of another epoch cannot be applied on top: the follower dropped the map, join afresh.
      if (follower.join(r) === "resync") { log(`the map's epoch changed; joining again`); return resync(); }
      hold = r.hold;
      if (r.waiting_room) turnFromJoin(r.waiting_room);
      $("seats").dataset.ready = "true";
      timings.readyMs ??= Math.round(performance.now());
      log(`joined (${r.mode}, seq ${r.seq}, ${Object.keys(r.seats).length} taken)`);
      render();
    })
    .receive("error", (e) => status(`Cannot watch this event: ${explain(e)}`));
}

// A missed frame: join again from where this map is (the reply brings the missed final states).
function resync() {
  if (channel) channel.leave();
  openChannel();
}

// A seat as buyers read it: "Section A, row 3, seat 12".
function seatName(id) {
  const s = layoutById.get(id);
  if (!s) return id;
  return `${s.section ? `Section ${s.section}, ` : ""}row ${rowOf(s)}, seat ${labelOf(s)}`;
}

// A refusal that says sales are frozen raises the banner; anything else is said in the status line.
function refused(prefix, e) {
  if (e.reason === "sales_paused" || e.error === "sales_paused") salesPaused(true);
  status(`${prefix}${explain(e)}`);
}

function click(seat) {
  if (!token) return status("Sign in to hold seats.");
  if (blocked.offline) return status("Reconnecting: seats can be chosen again once the map is live.");
  const mine = hold?.seats.includes(seat);
  if (!mine && seats.get(seat) !== "available") return status(`${seatName(seat)} is ${seats.get(seat) === "locked" ? "held by someone else" : "sold"}.`);
  channel.push(mine ? "unlock" : "lock", { seat })
    .receive("ok", (r) => {
      if (!mine) {
        mineSeat(seat, true);
        if (r.expires_at) hold.expires_at = r.expires_at;
        if (r.hold_size === 1 || hold.extensions_left === null) hold.extensions_left = event?.hold_max_extensions ?? null;
      } else mineSeat(seat, false);
      if (!mine) replied.set(seat, performance.now());
      status(`${mine ? "Released" : "Holding"} ${seatName(seat)}.`);
      render([seat]);
    })
    .receive("error", (e) => {
      refused(`${seatName(seat)}: `, e);
      // The room's clock says my turn is over, whatever this browser's clock says.
      if (e.reason === "not_admitted" && turnUntil && !turnEnded) endTurn();
    });
}

// ---- best available ------------------------------------------------------------------------------

// "4 together, this section, up to this price": the server picks the best block by the same rules
// for everyone (docs/protocol.md, `best_available`) and locks it into the hold, or offers a split.
function fillBestSections() {
  const names = [...new Set([...layoutById.values()].map((s) => s.section).filter(Boolean))];
  $("best-section").replaceChildren(new Option("any", ""), ...names.map((n) => new Option(n, n)));
}

$("best").onsubmit = (ev) => {
  ev.preventDefault();
  if (!token) return status("Sign in to hold seats.");
  if (blocked.offline || !channel) return status("Reconnecting: seats can be chosen again once the map is live.");
  const count = Number($("best-count").value);
  const section = $("best-section").value;
  const max = $("best-max").value.trim();
  $("best-split").hidden = true;
  channel.push("best_available", { count, ...(section ? { section } : {}), ...(max ? { max_price: Number(max) } : {}) })
    .receive("ok", (r) => {
      const fresh = !hold;
      for (const s of r.seats) mineSeat(s, true);
      hold.expires_at = r.expires_at;
      if (fresh || hold.extensions_left === null) hold.extensions_left = event?.hold_max_extensions ?? null;
      status(`Holding ${r.seats.length} seat${r.seats.length > 1 ? "s" : ""} together: ${r.seats.map(seatName).join("; ")}.`);
      render(r.seats);
    })
    .receive("error", (e) => {
      refused("Best available: ", { ...e, count });
      if (e.reason === "no_block" && Array.isArray(e.split) && e.split.length > 0) offerSplit(e.split);
    });
};

// No block of that size: the server's best split, taken seat by seat if the buyer wants it.
function offerSplit(split) {
  const all = split.flat();
  const take = Object.assign(document.createElement("button"), { type: "button", textContent: `Hold these ${all.length} seats (${split.length} rows)` });
  take.dataset.testid = "best-split-take";
  take.onclick = () => { $("best-split").hidden = true; for (const s of all) click(s); };
  $("best-split").replaceChildren(append(document.createElement("p"), [split.map((row) => row.map(seatName).join(", ")).join(" · ")]), take);
  $("best-split").hidden = false;
}

$("extend").onclick = () => {
  channel.push("extend", {})
    .receive("ok", (r) => { if (hold) { hold.expires_at = r.expires_at; hold.extensions_left = r.extensions_left; } status("Hold extended."); renderHold(); })
    .receive("error", (e) => refused("Cannot extend: ", e));
};

$("buy").onclick = async () => {
  $("buy").disabled = true;
  try {
    const o = await api("POST", "/api/orders", { event_id: eventId });
    const ordered = hold?.seats ?? [];
    hold = null;
    status(`Order placed: ${o.items.length} seat${o.items.length > 1 ? "s" : ""}, ${money.format(o.total)}. ${devPayments ? "Pay it below." : "Pay it with your payment provider."}`);
    await loadOrders();
    render(ordered);
    // On a phone the orders are below the map: bring the new one (and its Pay button) into view.
    document.querySelector(`[data-order-id="${o.id}"]`)?.scrollIntoView({ block: "nearest", behavior: "smooth" });
  } catch (e) { refused("Order refused: ", e.body?.error ? e.body : { message: e.message }); renderHold(); }
};

// ---- the waiting room (queue:<event>) ------------------------------------------------------------

// `wr` is the room of the event shown, null for an event without one: `status` is the room as
// GET /api/events/:id/waiting_room last said, `mine` my place as the queue channel last said.
let wr = null, queueChannel = null, roomPoll = null;
let pass = null, turnUntil = null, turnEnded = false;
const nonces = new Map(); // "<challenge>:<user id>" -> a proof-of-work nonce already found

function showView(view) {
  document.body.dataset.view = view;
  $("room-card").hidden = view !== "room";
  $("map-card").hidden = view !== "map";
  tickTurn();
}

function leaveRoom() {
  if (queueChannel) queueChannel.leave();
  queueChannel = null;
  clearTimeout(roomPoll);
  wr = null; pass = null; turnUntil = null; turnEnded = false;
  $("room-verify").hidden = true;
  tickTurn();
}

function enterRoom(roomStatus) {
  wr = { status: roomStatus, commitment: roomStatus.commitment, mine: null, note: "" };
  showView("room");
  if (token) joinQueue();
  renderWaitingRoom();
  scheduleRoomPoll();
}

// One place per user: every tab and every rejoin (the stock client's, after a reconnect) finds the
// same one. The params are read at each (re)join, so a nonce found once goes with all of them.
function joinQueue() {
  if (queueChannel) queueChannel.leave();
  const ch = socket.channel(`queue:${eventId}`, () => {
    const nonce = wr?.pow && me ? nonces.get(`${wr.pow.challenge}:${me.id}`) : undefined;
    return nonce ? { nonce } : {};
  });
  queueChannel = ch;
  const mine = (f) => (p) => { if (ch === queueChannel && wr) f(p); };
  ch.on("position", mine((p) => {
    const wasDrawn = !!wr.status.seed;
    wr.mine = { state: "waiting", position: p.position, ahead: p.ahead, eta_s: p.eta_s, likely_sold_out: !!p.likely_sold_out };
    // No "drawn" push: the first place after the pre-queue is the sign that the draw was made.
    if (!wasDrawn) void refreshRoom();
    renderWaitingRoom();
  }));
  ch.on("admitted", mine(admitted));
  ch.on("sold_out", mine(() => { wr.mine = { ...wr.mine, state: "sold_out" }; renderWaitingRoom(); }));
  ch.on("turn_ended", mine(() => endTurn()));
  ch.join()
    .receive("ok", mine((r) => {
      log(`queue joined (${r.state}${r.position ? `, place ${r.position}` : ""})`);
      if (r.state === "admitted") return admitted(r);
      wr.mine = { state: r.state, position: r.position, ahead: r.ahead, eta_s: r.eta_s, likely_sold_out: !!r.likely_sold_out };
      wr.note = ""; wr.powTries = 0;
      renderWaitingRoom();
    }))
    .receive("error", mine((e) => queueRefused(ch, e)));
}

// A refused join is not retried by itself (the stock client would, every few seconds, forever).
function queueRefused(ch, e) {
  ch.leave();
  if (ch === queueChannel) queueChannel = null;
  log(`queue refused: ${e.reason}`);
  if (e.reason === "pow_invalid" && me) nonces.delete(`${e.challenge}:${me.id}`);
  // Solved once per refusal; a nonce refused again is not tried forever.
  if ((e.reason === "pow_required" || e.reason === "pow_invalid") && me && (wr.powTries = (wr.powTries ?? 0) + 1) <= 2) return void provePresence(e.challenge, e.bits);
  if (e.reason === "rate_limited") {
    wr.note = "Many people are joining right now; trying again in a moment…";
    const g = wr;
    setTimeout(() => { if (wr === g && !queueChannel) joinQueue(); }, Math.max(1000, e.retry_after_ms ?? 2000));
  } else if (e.reason === "unauthorized") wr.note = "Sign in to take a place.";
  else wr.note = `You cannot take a place: ${explain(e)}`;
  renderWaitingRoom();
}

// The room asks for a proof of work: a nonce such that SHA-256("<challenge>:<user id>:<nonce>")
// starts with `bits` zero bits. Tried in small batches, so the page stays responsive meanwhile.
async function provePresence(challenge, bits) {
  const g = wr, key = `${challenge}:${me.id}`;
  g.pow = { challenge, bits };
  if (!nonces.has(key)) {
    if (!crypto.subtle) { g.note = "This room asks your browser for a short computation, which needs a secure (https) page."; return renderWaitingRoom(); }
    const enc = new TextEncoder(), prefix = `${challenge}:${me.id}:`, batch = 128;
    let found = null;
    for (let from = 0; found === null; from += batch) {
      if (wr !== g) return;
      if (from % (batch * 16) === 0) { g.note = `Checking this is a person, not a bot: ${from.toLocaleString()} tries…`; renderWaitingRoom(); }
      const digests = await Promise.all(Array.from({ length: batch }, (_, i) => crypto.subtle.digest("SHA-256", enc.encode(prefix + (from + i)))));
      const i = digests.findIndex((d) => zeroBits(new Uint8Array(d)) >= bits);
      if (i >= 0) found = String(from + i);
      else await nextTask();
    }
    nonces.set(key, found);
    log(`proof of work: ${bits} bits after ${Number(found) + 1} tries`);
  }
  if (wr !== g) return;
  g.note = "";
  joinQueue();
}

function zeroBits(bytes) {
  let n = 0;
  for (const b of bytes) { if (b === 0) { n += 8; continue; } return n + Math.clz32(b) - 24; }
  return n;
}
// Yields to the page between batches (a message, not setTimeout: not slowed down in a background tab).
const nextTask = () => new Promise((resolve) => { const c = new MessageChannel(); c.port1.onmessage = () => resolve(); c.port2.postMessage(null); });

// The room's state for everyone, polled while it matters: until the draw (the pre-queue's size,
// then the seed), and for visitors who are not signed in (no queue channel, no pushes).
function scheduleRoomPoll() {
  clearTimeout(roomPoll);
  const s = wr?.status.state;
  if (!s || s === "closed" || turnUntil) return;
  const every = s === "not_open" || s === "pre_queue" ? 3000 : token ? null : 15000;
  if (every) roomPoll = setTimeout(refreshRoom, every * (0.8 + Math.random() * 0.4));
}

async function refreshRoom() {
  const g = wr;
  if (!g || g.refreshing) return;
  g.refreshing = true;
  try {
    const s = await api("GET", `/api/events/${eventId}/waiting_room`);
    if (wr !== g) return;
    const before = g.status.state;
    g.status = s;
    // The pre-queue opened while I was here: take my place in it now.
    if (token && before === "not_open" && s.state !== "not_open" && !turnUntil) joinQueue();
    // Drawn, yet no place pushed to me: ask again (the join reply says where I stand).
    const placeless = () => wr === g && queueChannel && !turnUntil && (g.mine?.state === "pre_queue" || g.mine?.state === "not_open");
    if (token && s.seed && placeless()) setTimeout(() => { if (placeless()) joinQueue(); }, 3000);
    renderWaitingRoom();
  } catch (e) {
    if (wr === g) log(`waiting room: ${e.message}`);
  } finally {
    g.refreshing = false;
    if (wr === g) scheduleRoomPoll();
  }
}

const short = (hex) => (hex && hex.length > 16 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex ?? "");
const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
function etaText(m) {
  if (m.ahead === 0) return "you're next";
  if (m.eta_s === null || m.eta_s === undefined) return "estimating…";
  const min = Math.max(1, Math.round(m.eta_s / 60));
  return min < 60 ? `about ${min} min` : `about ${Math.floor(min / 60)} h ${min % 60} min`;
}

function renderWaitingRoom() {
  if (!wr) return;
  const st = wr.status, m = wr.mine;
  // My own state when I have one (pushes are fresher than the last poll), else the room's.
  let state = m?.state ?? st.state;
  if (st.state === "closed") state = "closed";
  if (state === "pre_queue" && st.seed) state = "drawn"; // drawn: my place is on its way
  if (state === "pre_queue" && Date.now() >= Date.parse(st.sales_open_at)) state = "drawing";
  $("room-card").dataset.state = state;
  const signedIn = !!token;
  const text = {
    not_open: `The waiting room opens ${when(st.opens_at)}. Everyone here between then and ${when(st.sales_open_at)} gets a place by a random draw, so there is no need to rush.`,
    pre_queue: signedIn
      ? `You are in the pre-queue. At ${when(st.sales_open_at)} everyone in it gets a place by a random draw: when you arrived before then makes no difference.`
      : `The pre-queue is open. At ${when(st.sales_open_at)} everyone in it gets a place by a random draw.`,
    drawing: "Sales are opening: drawing the places…",
    drawn: "The draw is made: your place is on its way…",
    waiting: m?.ahead === 0 ? "You are next in the queue. Keep this page open: the seat map opens here when it is your turn." : "You are in the queue. Keep this page open: the seat map opens here when it is your turn.",
    running: "Sales are open: buyers are let in to the seat map in turn, in the order of the queue.",
    admitted: "It is your turn.",
    sold_out: "Sold out: every seat has been sold. If seats come back (an order that is not paid), the queue moves again and this page follows.",
    closed: "Sales for this event have closed.",
  }[state] ?? "";
  $("room-state").textContent = wr.note || text;
  const waiting = state === "waiting" && m;
  $("room-place").hidden = !waiting;
  if (waiting) {
    $("room-position").textContent = `#${m.position}`;
    $("room-ahead").textContent = String(m.ahead);
    $("room-eta").textContent = etaText(m);
    $("room-eta").dataset.eta = m.eta_s === null || m.eta_s === undefined ? "" : String(m.eta_s);
  }
  $("room-risk").hidden = !(waiting && m.likely_sold_out);
  $("room-signin").hidden = signedIn || state === "closed" || state === "sold_out";
  // Counts only while they are kept fresh (polled); a queued buyer follows their own place instead.
  const polled = !signedIn || !st.seed;
  $("room-counts").textContent = !polled || state === "closed" ? "" : st.seed ? `${st.waiting.toLocaleString()} waiting · ${st.admitted.toLocaleString()} let in so far` : `${st.waiting.toLocaleString()} in the pre-queue`;
  $("room-draw-text").textContent = st.seed
    ? "The seed is public now: check that it matches the commitment, and where your key put you in the draw."
    : "Before the pre-queue opened, the room fixed a secret seed and published its SHA-256, the commitment. At the draw the seed is made public, so anyone can check it and recompute every place.";
  $("room-commitment").textContent = short(wr.commitment);
  $("room-commitment").title = wr.commitment;
  $("room-commitment").dataset.full = wr.commitment;
  $("room-seed-line").hidden = !st.seed;
  $("room-seed").textContent = short(st.seed);
  $("room-seed").title = st.seed ?? "";
  $("room-check").hidden = !st.seed;
}

$("room-copy").onclick = async () => {
  const full = wr?.commitment;
  if (!full) return;
  try { await navigator.clipboard.writeText(full); $("room-copy").textContent = "Copied"; setTimeout(() => { $("room-copy").textContent = "Copy"; }, 2000); }
  catch { window.prompt("The draw's commitment (SHA-256 of the seed):", full); }
};
$("room-signin").append(" ", Object.assign(document.createElement("button"), { type: "button", className: "link", textContent: "Sign in", onclick: () => $("email").focus() }));

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

// The draw, checked in the browser: SHA-256(seed) must be the commitment published before the
// pre-queue opened; my key is HMAC-SHA256(key = seed, message = my user id); the keys are listed in
// queue order (ascending), so my place in the draw is my key's index + 1.
$("room-check").onclick = async () => {
  const out = $("room-verify"), g = wr;
  out.hidden = false; out.textContent = "Checking…"; delete out.dataset.commitment; delete out.dataset.place;
  if (!crypto.subtle) { out.textContent = "This browser can only check the draw on a secure (https) page."; return; }
  try {
    const d = await api("GET", `/api/events/${eventId}/waiting_room/draw`);
    const enc = new TextEncoder();
    const recomputed = hex(await crypto.subtle.digest("SHA-256", enc.encode(d.seed)));
    const ok = recomputed === g.commitment;
    const ordered = d.keys.every((k, i) => i === 0 || d.keys[i - 1] < k);
    const lines = [ok ? `✓ The seed matches the commitment ${short(g.commitment)} published before the draw.` : `✗ The seed does not match the published commitment: its SHA-256 is ${short(recomputed)}, not ${short(g.commitment)}.`];
    let place = 0;
    if (me) {
      const k = await crypto.subtle.importKey("raw", enc.encode(d.seed), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const mine = hex(await crypto.subtle.sign("HMAC", k, enc.encode(me.id)));
      place = d.keys.indexOf(mine) + 1;
      lines.push(place ? `Your key ${short(mine)} is number ${place} of ${d.keys.length} in the draw${g.mine?.position && g.mine.position !== place ? " (your place moves up as the buyers drawn before you are let in)" : ""}.` : `Your key ${short(mine)} is not among the draw's ${d.keys.length} keys: you were not in the pre-queue (you queue in order of arrival after it).`);
    } else lines.push("Sign in to find your own key in the draw.");
    if (!ordered) lines.push("✗ The published keys are not in ascending order.");
    if (wr !== g) return;
    out.replaceChildren(...lines.flatMap((l, i) => (i ? [document.createElement("br"), l] : [l])));
    out.dataset.commitment = ok ? "ok" : "mismatch";
    out.dataset.place = String(place);
  } catch (e) {
    if (wr === g) out.textContent = e.status === 409 ? "The draw has not been made yet." : `Cannot check the draw: ${e.message}`;
  }
};

// My turn: the seat map, joined with the pass; the queue channel stays joined (it vouches I am
// still here) until the turn ends.
function admitted(p) {
  const fresh = p.pass !== pass;
  // The turn's end on this browser's clock: the server's end, shifted by how far the clocks differ.
  pass = p.pass; turnUntil = p.expires_at - (p.server_time ? p.server_time - Date.now() : 0); turnEnded = false;
  wr.mine = { ...wr.mine, state: "admitted" };
  wr.note = "";
  clearTimeout(roomPoll);
  showView("map");
  if (!channel) openChannel();
  else if (fresh) resync();
  status("It's your turn: pick your seats.");
  log(`admitted until ${new Date(turnUntil).toLocaleTimeString()}`);
}

// What the seat join says of my pass: its deadline, or that it no longer counts.
function turnFromJoin(w) {
  if (w.admitted && w.expires_at) { turnUntil = w.expires_at; turnEnded = false; }
  else if (pass) endTurn();
  tickTurn();
}

function endTurn() {
  if (turnEnded) return;
  turnEnded = true; pass = null;
  // No new place behind my back (the stock client would rejoin after a reconnect): I ask for one.
  if (queueChannel) queueChannel.leave();
  queueChannel = null;
  status(hold?.seats.length ? "Your turn has ended: order the seats you hold before their hold runs out." : "Your turn has ended.");
  tickTurn();
}

function tickTurn() {
  const t = $("turn");
  const shown = !!wr && turnUntil !== null && document.body.dataset.view === "map";
  t.hidden = !shown;
  if (!shown) return;
  if (!turnEnded && turnUntil - Date.now() <= 0) return endTurn();
  t.dataset.state = turnEnded ? "ended" : "running";
  $("turn-rejoin").hidden = !turnEnded;
  if (turnEnded) {
    $("turn-text").textContent = hold?.seats.length ? "Your turn has ended: you can still order the seats you hold; new seats need a new turn." : "Your turn has ended. To pick seats, join the queue again.";
    t.classList.remove("low");
    return;
  }
  const s = Math.ceil((turnUntil - Date.now()) / 1000);
  $("turn-text").textContent = `Your turn: ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")} left to pick your seats`;
  $("turn-text").dataset.left = String(s);
  t.classList.toggle("low", s <= 60);
}
setInterval(tickTurn, 1000);

// Back to the room for a new place (at the back of the queue). The seat channel stays joined, so a
// hold I still have is not taken for abandoned.
$("turn-rejoin").onclick = () => {
  if (!wr) return;
  turnUntil = null; turnEnded = false;
  wr.mine = null;
  showView("room");
  joinQueue();
  renderWaitingRoom();
  void refreshRoom();
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
      cancel.onclick = async () => { try { await api("POST", `/api/orders/${o.id}/cancel`); await loadOrders(); } catch (e) { refused("Cannot cancel: ", e.body?.error ? e.body : { message: e.message }); } };
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
    .receive("error", (e) => { $("chat-status").textContent = `You cannot enter the chat: ${explain(e)}`; });
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
    .receive("error", (e) => { $("chat-status").textContent = `Not sent: ${explain(e)}`; });
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
  // A section filter names the sections of the event it came with: another event starts whole.
  sections = null;
  params.delete("sections");
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
