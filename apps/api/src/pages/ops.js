// The ops console (/ops): the cluster's health, and the controls an operator runs a drop from.
const $ = (id) => document.getElementById(id);
let token = localStorage.getItem("seatdrop.ops.token") || "";
const esc = (v) => String(v ?? "—").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const yes = (b) => (b === null ? "—" : b ? '<span class="ok">up</span>' : '<span class="down">down</span>');
// Each cell is labelled with its column's heading, which the phone layout shows beside the value.
const fill = (testid, rows) => {
  const table = document.querySelector(`[data-testid="${testid}"]`);
  table.tBodies[0].innerHTML = rows.join("");
  const heads = [...table.tHead.rows[0].cells].map((th) => th.textContent);
  for (const tr of table.tBodies[0].rows) for (const [i, td] of [...tr.cells].entries()) td.dataset.label = heads[i] ?? "";
};

/** Signed in (the form hidden, sign-out shown) or not (the form back, with why). */
function signedIn(yesNo, why = "") {
  $("signin").hidden = yesNo;
  $("signout").hidden = !yesNo;
  if (!yesNo) {
    token = "";
    localStorage.removeItem("seatdrop.ops.token");
    for (const t of ["apps", "queues", "events", "rooms", "orders"]) fill(t, []);
    $("orders-card").hidden = true;
    for (const id of ["postgres", "redis", "locks", "at", "alerts"]) $(id).textContent = "";
  }
  $("error").textContent = why;
}

async function refresh() {
  if (!token) return signedIn(false, $("error").textContent || "sign in as an admin to see the cluster");
  let r, s;
  try {
    r = await fetch("/api/ops/status", { headers: { authorization: `Bearer ${token}` } });
    s = await r.json();
  } catch (err) {
    $("error").textContent = `the API did not answer: ${err.message}`;
    return;
  }
  // A refused token (expired, signed out, another deployment's, or not an admin's) brings the form back.
  if (r.status === 401) return signedIn(false, `signed out: ${s.message ?? s.error}`);
  if (r.status === 403) return signedIn(false, "this account is not an admin; sign in as an admin");
  if (!r.ok) { $("error").textContent = `${s.error}: ${s.message}`; return; }
  $("error").textContent = "";
  $("at").textContent = `as of ${new Date(s.at).toLocaleTimeString()}`;
  const row = (a) => `<tr data-app="${esc(a.name)}" data-healthy="${a.healthy}"><td>${esc(a.name)}</td><td>${yes(a.healthy)}</td><td>${yes(a.ready)}</td><td>${esc(a.connections)}</td><td>${esc(a.subscribed_events)}</td><td class="muted">${esc(a.url)}</td></tr>`;
  fill("apps", [row({ ...s.api, url: `pid ${s.api.pid}, up ${s.api.uptime_s} s` }), ...s.apps.map(row)]);
  $("postgres").innerHTML = s.postgres.ok ? `<span class="ok">up</span> · version ${esc(s.postgres.version)} · ${esc(s.postgres.latency_ms)} ms · ${esc(s.postgres.connections)} connections` : '<span class="down">unreachable</span>';
  $("redis").innerHTML = s.redis.ok ? `<span class="ok">up</span> · version ${esc(s.redis.version)} · memory ${esc(s.redis.used_memory)} · ${s.redis.connected_clients} clients · ${s.redis.ops_per_sec} ops/s` : '<span class="down">unreachable</span>';
  renderAlerts(s.alerts);
  const refused = Object.entries(s.locks.refused).sort((a, b) => b[1] - a[1]);
  $("locks").innerHTML = `${s.locks.ok} locked · refused: ${refused.length ? refused.map(([k, v]) => `<span data-reason="${esc(k)}">${esc(k)} ${v}</span>`).join(", ") : "none"}`
    + ` · hold expiry lag (worker, mean): ${s.expiry_lag_mean_ms === null ? "—" : `${esc(s.expiry_lag_mean_ms)} ms`}`;
  fill("queues", s.queues.map((q) => `<tr><td>${esc(q.name)}</td><td>${esc(q.waiting)}</td><td>${esc(q.delayed)}</td><td>${esc(q.active)}</td><td>${esc(q.failed)}</td></tr>`));
  fill("events", s.events.map((e) => `<tr data-event="${esc(e.id)}" data-paused="${e.sales_paused}"><td>${esc(e.name)}</td><td>${new Date(e.start_time).toLocaleString()}</td><td>${esc(e.seats)}</td><td>${esc(e.taken)}</td><td data-testid="holds">${esc(e.holds)}</td><td>${esc(e.seq)}</td>`
    + `<td>${e.sales_paused ? '<span class="down">frozen</span> <button data-act="reopen">Reopen</button>' : '<span class="ok">open</span> <button data-act="freeze">Freeze</button>'}</td>`
    + `<td>${e.hold_list.map((h) => `<button data-act="release" data-user="${esc(h.user_id)}" data-email="${esc(h.email)}" title="user ${esc(h.user_id)}, deadline ${esc(h.deadline)}">release ${esc(h.email ?? h.user_id.slice(0, 8))}</button>`).join("")}</td>`
    + `<td><button data-act="orders" data-name="${esc(e.name)}">Orders</button></td></tr>`));
  fillRooms(s.events.filter((e) => e.waiting_room).map((e) => { const w = e.waiting_room; return `<tr data-event="${esc(e.id)}" data-paused="${esc(w.paused)}" data-state="${esc(w.state)}"><td>${esc(e.name)}</td><td>${esc(w.state)}</td>`
    + `<td data-testid="waiting">${esc(w.waiting)}</td><td data-testid="admitted">${esc(w.admitted)}</td><td>${esc(w.shopping)}</td><td>${esc(w.admitted_per_minute)}</td><td>${esc(w.free_seats)}</td>`
    + `<td><input data-testid="max-active" type="number" min="1" step="1" placeholder="no cap" value="${w.max_active === null ? "" : esc(w.max_active)}"> <button data-act="room-cap">Set</button></td>`
    + `<td>${w.paused === null ? "—" : w.paused ? '<span class="down">paused</span> <button data-act="room-resume">Resume admission</button>' : '<span class="ok">admitting</span> <button data-act="room-pause">Pause admission</button>'}</td></tr>`; }));
}

// What Alertmanager says is firing (it posts to /api/ops/alerts), critical first, each with its runbook.
function renderAlerts(alerts) {
  const box = $("alerts");
  if (alerts === null) { box.textContent = "unknown: Redis cannot be read"; return; }
  if (alerts.length === 0) { box.innerHTML = '<span class="ok">none</span> (as Alertmanager last said)'; return; }
  const runbook = (u) => (!u ? "" : /^https?:\/\//.test(u) ? ` · <a href="${esc(u)}" target="_blank" rel="noopener">runbook</a>` : ` · runbook <code>${esc(u)}</code>`);
  box.innerHTML = `<ul>${alerts.map((a) => `<li data-alert="${esc(a.name)}" data-severity="${esc(a.severity)}"><b class="${a.severity === "critical" ? "down" : ""}">${esc(a.name)}</b> (${esc(a.severity)}) ${esc(a.summary)} · since ${new Date(a.starts_at).toLocaleTimeString()}${runbook(a.runbook_url)}</li>`).join("")}</ul>`;
}

/** Redraws the rooms table, keeping what an operator is typing into a max-active field. */
function fillRooms(rows) {
  const a = document.activeElement;
  const editing = a && a.matches('[data-testid="rooms"] input') ? { id: a.closest("tr").dataset.event, value: a.value } : null;
  fill("rooms", rows);
  if (!editing) return;
  const input = [...document.querySelectorAll('[data-testid="rooms"] tbody tr')].find((tr) => tr.dataset.event === editing.id)?.querySelector("input");
  if (input) { input.value = editing.value; input.focus(); }
}

// The rooms table: pause or resume admission, set or clear the cap on buyers shopping at once.
document.querySelector('[data-testid="rooms"] tbody').onclick = async (ev) => {
  const b = ev.target.closest("button[data-act]");
  if (!b) return;
  const tr = b.closest("tr");
  const act = b.dataset.act;
  let body;
  if (act === "room-cap") {
    const v = tr.querySelector("input").value.trim();
    if (v !== "" && !/^[1-9][0-9]*$/.test(v)) { $("error").textContent = "max active must be a whole number of at least 1, or empty for no cap"; return; }
    body = { max_active: v === "" ? null : Number(v) };
  } else {
    if (act === "room-pause" && !confirm("Pause this waiting room's admission? Nobody new is let in until resumed; turns already running go on.")) return;
    body = { paused: act === "room-pause" };
  }
  b.disabled = true;
  const r = await fetch(`/api/ops/events/${tr.dataset.event}/waiting_room`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  if (r.status === 401) return signedIn(false, "signed out: the token was refused");
  if (r.status === 403) return signedIn(false, "this account is not an admin; sign in as an admin");
  const s = await r.json().catch(() => ({}));
  $("error").textContent = r.ok ? "" : `${act} failed: ${s.error}: ${s.message}`;
  refresh();
};
document.querySelector('[data-testid="rooms"] tbody').onkeydown = (ev) => {
  if (ev.key === "Enter" && ev.target.matches("input")) ev.target.closest("tr").querySelector('button[data-act="room-cap"]').click();
};

// One handler for the table (its rows are redrawn every refresh): freeze, reopen, release a hold.
document.querySelector('[data-testid="events"] tbody').onclick = async (ev) => {
  const b = ev.target.closest("button[data-act]");
  if (!b) return;
  const id = b.closest("tr").dataset.event;
  const act = b.dataset.act;
  if (act === "orders") return openOrders(id, b.dataset.name);
  if (act === "freeze" && !confirm("Freeze this event's sales? Locks and orders are refused until reopened; holds keep their deadlines.")) return;
  if (act === "release" && !confirm(`Release the hold of ${b.dataset.email || `user ${b.dataset.user}`}?`)) return;
  const url = act === "release" ? `/api/ops/events/${id}/holds/${b.dataset.user}/release` : `/api/ops/events/${id}/${act}`;
  b.disabled = true;
  const r = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  if (r.status === 401) return signedIn(false, "signed out: the token was refused");
  if (r.status === 403) return signedIn(false, "this account is not an admin; sign in as an admin");
  const s = await r.json().catch(() => ({}));
  $("error").textContent = r.ok ? "" : `${act} failed: ${s.error}: ${s.message}`;
  refresh();
};
$("signin").onsubmit = async (ev) => {
  ev.preventDefault();
  const r = await fetch("/api/users/sign_in", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: $("email").value, password_hash: $("password").value }) });
  const s = await r.json();
  if (!r.ok) { $("error").textContent = `sign in failed: ${s.error}`; return; }
  token = s.token;
  localStorage.setItem("seatdrop.ops.token", token);
  signedIn(true, "");
  refresh();
};
$("signout").onclick = async () => {
  const t = token;
  signedIn(false, "signed out");
  // Revokes the token on the server too; the page forgets it whatever the answer.
  await fetch("/api/users/sign_out", { method: "POST", headers: { authorization: `Bearer ${t}` } }).catch(() => {});
};
signedIn(Boolean(token));
refresh();
setInterval(refresh, 2000);

// ---- an event's orders, refunded from the list ----------------------------------------------------

let ordersOf = null; // the event whose orders are shown
async function call(method, url, body) {
  const r = await fetch(url, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": typeof body === "string" ? "text/csv" : "application/json" }) }, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  if (r.status === 401) { signedIn(false, "signed out: the token was refused"); throw new Error("signed out"); }
  if (r.status === 403) { signedIn(false, "this account is not an admin; sign in as an admin"); throw new Error("not an admin"); }
  return { ok: r.ok, status: r.status, body: await r.json().catch(() => ({})) };
}
function openOrders(id, name) {
  ordersOf = id;
  $("orders-event").textContent = name;
  $("orders-card").hidden = false;
  loadOrders();
  $("orders-card").scrollIntoView({ block: "nearest" });
}
async function loadOrders() {
  const id = ordersOf;
  const status = $("orders-status").value;
  const r = await call("GET", `/api/ops/events/${id}/orders${status ? `?status=${status}` : ""}`).catch(() => null);
  if (!r || id !== ordersOf) return;
  if (!r.ok) { $("orders-note").textContent = `${r.body.error}: ${r.body.message}`; return; }
  fill("orders", r.body.orders.map((o) => `<tr data-order="${esc(o.id)}" data-status="${esc(o.status)}"><td>${new Date(o.inserted_at).toLocaleString()}</td><td>${esc(o.status)}</td><td>${esc(o.email)}</td><td>${esc(o.seats.join(", "))}</td><td>${esc(o.total.toFixed(2))} ${esc(o.currency)}</td>`
    + `<td>${o.status === "paid" ? `<button data-act="refund" data-email="${esc(o.email)}">Refund</button>` : ""}</td></tr>`));
  $("orders-note").textContent = r.body.orders.length ? `${r.body.orders.length} order${r.body.orders.length > 1 ? "s" : ""}, newest first` : "No orders.";
}
$("orders-status").onchange = loadOrders;
$("orders-close").onclick = () => { ordersOf = null; $("orders-card").hidden = true; };
document.querySelector('[data-testid="orders"] tbody').onclick = async (ev) => {
  const b = ev.target.closest('button[data-act="refund"]');
  if (!b) return;
  const tr = b.closest("tr");
  if (!confirm(`Refund the order of ${b.dataset.email}? Its tickets become void and its seats go back on sale.`)) return;
  b.disabled = true;
  const r = await call("POST", `/api/orders/${tr.dataset.order}/refund`).catch(() => null);
  if (r && !r.ok) $("orders-note").textContent = `refund failed: ${r.body.error}: ${r.body.message}`;
  loadOrders();
  refresh();
};

// ---- a new event from a seat-map file ----------------------------------------------------------

// CSV goes through POST /api/seat_maps/csv (which names each bad line and column and stores
// nothing); JSON is a list of seats (or {"seats": [...]}). Then one POST /api/events, which stores
// the event and all its seats in one transaction, or nothing.
function problems(list) {
  $("new-event-problems").replaceChildren(...list.map((p) => Object.assign(document.createElement("li"), { textContent: p })));
}
async function seatsOf(file) {
  const text = await file.text();
  if (/\.json$/i.test(file.name) || /^\s*[[{]/.test(text)) {
    let parsed;
    try { parsed = JSON.parse(text); } catch (err) { throw [`${file.name} is not valid JSON: ${err.message}`]; }
    const seats = Array.isArray(parsed) ? parsed : parsed?.seats;
    if (!Array.isArray(seats)) throw [`${file.name}: expected a list of seats, or {"seats": [...]}`];
    return seats;
  }
  const r = await call("POST", "/api/seat_maps/csv", text);
  if (!r.ok) throw (r.body.errors ?? [{ field: "csv", message: r.body.message }]).map((e) => `${file.name}, ${e.field}: ${e.message}`);
  return r.body.seats;
}
$("new-event").onsubmit = async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  $("new-event-done").textContent = "";
  problems([]);
  const button = ev.target.querySelector("button");
  button.disabled = true;
  try {
    const seats = await seatsOf(f.seat_map.files[0]);
    const iso = (v) => (v ? new Date(v).toISOString() : "");
    const r = await call("POST", "/api/events", { name: f.name.value, location: f.location.value, description: f.description.value, start_time: iso(f.start_time.value), end_time: iso(f.end_time.value), seats });
    if (!r.ok) throw (r.body.errors ?? [{ field: r.body.field ?? "event", message: r.body.message }]).map((e) => `${e.field}: ${e.message}`);
    $("new-event-done").textContent = `Created "${r.body.name}" with ${r.body.seat_count} seats (id ${r.body.id}).`;
    $("new-event-done").dataset.eventId = r.body.id;
    ev.target.reset();
    refresh();
  } catch (err) {
    problems(Array.isArray(err) ? err : [err.message]);
  } finally {
    button.disabled = false;
  }
};
