// The seat map drawn on a canvas, for a 30-seat club and a 20,000-seat stadium alike: the whole venue
// at first (sections side by side, each seat a dot in its state's colour), zoom and pan (wheel,
// drag, pinch, the +/− buttons), a section strip to drill into (its "N of M free" kept live), and
// seats that change in place: a change repaints that one seat's cell, never the map. No DOM node per
// seat (the old map's 20,000 buttons took 4–5 s to rebuild on every change).
//
// Taps hold a seat only where seats are at least 24 CSS px apart (WCAG 2.5.8's target size): a tap
// on a smaller map zooms in first. The keyboard has one tab stop, the map: arrow keys move by seat and
// row, Page Up/Down by section, Enter or Space holds or releases, + and − zoom; each move is said in
// an aria-live region. Seat labels are white on colours of at least 4.5:1 contrast.
//
// Geometry: the layout has sections, rows and numbers but no coordinates, so each section is a block
// (rows top to bottom in the layout's order, each row centred), and the blocks are packed in shelves
// to the canvas' shape. One world unit is one seat's cell.

/** Seat colours (white labels on each are ≥ 4.5:1; the legend in seat-map.css uses the same). */
export const SEAT_COLOURS = Object.freeze({ available: "#1b7d44", locked: "#a6520a", mine: "#1f5bd1", reserved: "#5c626d", paid: "#2b3038" });
const BACKGROUND = "#ffffff";
const TARGET_PX = 24; // a seat's cell is a tap target from this size up
const READ_PX = 32; // the zoom a tap on a small map (or a keyboard move) brings seats to
const MAX_PX = 72;
const ROW_LABEL = 1.4; // world units left of each section for the row names
const TITLE = 1.8; // world units above each section for its name
const GAP = 2.5; // between sections

/**
 * Sections in layout order, each with rows in layout order and its seats' world positions, packed in
 * shelves: of a few shelf widths, the one that shows seats largest in a `width` × `maxHeight` canvas.
 */
export function placeSeats(list, width, maxHeight) {
  const byName = new Map();
  for (const s of list) {
    const name = s.section ?? "";
    if (!byName.has(name)) byName.set(name, { name, rows: new Map(), seats: [] });
    const sec = byName.get(name);
    const row = s.row ?? s.id.split("_")[0];
    if (!sec.rows.has(row)) sec.rows.set(row, []);
    sec.rows.get(row).push(s);
  }
  const sections = [...byName.values()];
  for (const sec of sections) { sec.cols = widthOf(sec); sec.w = sec.cols + ROW_LABEL; sec.h = sec.rows.size + TITLE; }
  // Each candidate shelf holds the first k sections side by side (k = 1 … all).
  const widest = Math.max(...sections.map((sec) => sec.w));
  const candidates = new Set();
  let run = -GAP;
  for (const sec of sections) { run += sec.w + GAP; candidates.add(Math.max(widest, run)); }
  let best = null;
  for (const shelf of candidates) {
    const packed = pack(sections, shelf + 1e-9);
    const scale = Math.min(width / (packed.width + 1), maxHeight / (packed.height + 1));
    if (!best || scale > best.scale * 1.001) best = { ...packed, shelf, scale };
  }
  pack(sections, best.shelf + 1e-9);
  const seatsById = new Map();
  for (const [index, sec] of sections.entries()) {
    Object.assign(sec, { index, x0: sec.x + ROW_LABEL, y0: sec.y + TITLE, rowList: [...sec.rows.entries()] });
    for (const [r, [row, rowSeats]] of sec.rowList.entries()) {
      const start = sec.x0 + (sec.cols - rowSeats.length) / 2;
      for (const [i, s] of rowSeats.entries()) {
        const rec = { id: s.id, seat: s, row, section: sec, r, i, x: start + i, y: sec.y0 + r };
        sec.seats.push(rec);
        seatsById.set(s.id, rec);
      }
    }
  }
  return { sections, seatsById, width: best.width, height: best.height };
}
function pack(sections, shelfWidth) {
  let x = 0, y = 0, shelf = 0, width = 0;
  for (const sec of sections) {
    if (x > 0 && x + sec.w > shelfWidth) { x = 0; y += shelf + GAP; shelf = 0; }
    sec.x = x; sec.y = y;
    width = Math.max(width, x + sec.w);
    x += sec.w + GAP;
    shelf = Math.max(shelf, sec.h);
  }
  return { width, height: y + shelf };
}
function widthOf(sec) { let n = 1; for (const r of sec.rows.values()) n = Math.max(n, r.length); return n; }

/**
 * @param {object} els {canvas, tip, live, sections (the strip), zoomIn, zoomOut}
 * @param {object} page {stateOf(id), describe(id), pick(id), sectionLabel(sec, free, total)}
 */
export function createSeatCanvas(els, page) {
  const { canvas } = els;
  const ctx = canvas.getContext("2d", { alpha: false });
  const stats = { fullPaints: 0, seatPaints: 0 };
  let venue = { sections: [], seatsById: new Map(), width: 1, height: 1 };
  let W = 0, H = 0, dpr = 1;
  let s = 10, tx = 0, ty = 0; // screen = world * s + t (CSS px)
  let moved = false; // the buyer zoomed or panned: a resize keeps their view
  let cursor = null; // the keyboard's seat
  let dirtyAll = true;
  const dirty = new Set();
  const dirtySections = new Set();
  let frame = 0;

  // ---- painting ----
  function schedule() {
    if (frame) return;
    // A timer as well as the animation frame: a page in a background tab still keeps its map.
    const run = () => { if (!frame) return; cancelAnimationFrame(frame.raf); clearTimeout(frame.timer); frame = 0; flush(); };
    frame = { raf: requestAnimationFrame(run), timer: setTimeout(run, 100) };
  }
  function flush() {
    if (dirtyAll) paintAll();
    else for (const id of dirty) { const rec = venue.seatsById.get(id); if (rec) paintSeat(rec, true); }
    const sections = dirtyAll ? venue.sections : [...dirtySections];
    dirtyAll = false; dirty.clear(); dirtySections.clear();
    for (const sec of sections) updateChip(sec);
    api.onPainted?.();
  }
  function paintAll() {
    stats.fullPaints++;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, W, H);
    for (const sec of venue.sections) {
      if (sec.x * s + tx > W || (sec.x + sec.w) * s + tx < 0 || sec.y * s + ty > H || (sec.y + sec.h) * s + ty < 0) continue;
      paintTitle(sec);
      if (s >= 12) paintRowNames(sec);
      for (const rec of sec.seats) paintSeat(rec, false);
    }
  }
  function paintTitle(sec) {
    const px = Math.max(11, Math.min(16, s * 1.1));
    ctx.font = `600 ${px}px system-ui, sans-serif`;
    ctx.fillStyle = "#1d2330";
    ctx.textAlign = "left";
    ctx.textBaseline = "alphabetic";
    ctx.fillText(sec.name || "Seats", sec.x0 * s + tx, (sec.y0 - 0.45) * s + ty);
  }
  function paintRowNames(sec) {
    ctx.font = `${Math.min(14, s * 0.45)}px system-ui, sans-serif`;
    ctx.fillStyle = "#4b5563";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const [r, [row, seats]] of sec.rowList.entries()) {
      const first = venue.seatsById.get(seats[0].id);
      ctx.fillText(row, (first.x - 0.2) * s + tx, (sec.y0 + r + 0.5) * s + ty);
    }
  }
  function paintSeat(rec, clear) {
    // Whole pixels: a repaint then covers exactly what the last paint of this cell drew.
    const x = Math.round(rec.x * s + tx), y = Math.round(rec.y * s + ty);
    if (x > W || y > H || x + s < 0 || y + s < 0) return;
    if (clear) { stats.seatPaints++; ctx.setTransform(dpr, 0, 0, dpr, 0, 0); ctx.fillStyle = BACKGROUND; ctx.fillRect(x, y, Math.ceil(s), Math.ceil(s)); }
    const state = page.stateOf(rec.id);
    const pad = Math.max(0.5, s * 0.09), size = s - 2 * pad;
    ctx.fillStyle = SEAT_COLOURS[state] ?? SEAT_COLOURS.reserved;
    if (s >= 10) { ctx.beginPath(); ctx.roundRect(x + pad, y + pad, size, size, s * 0.18); ctx.fill(); }
    else ctx.fillRect(x + pad, y + pad, size, size);
    if (s >= 16 && state !== "available" && state !== "mine") {
      // Taken seats are struck through as well as coloured: state is not told by colour alone.
      ctx.strokeStyle = "rgba(255,255,255,.55)"; ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.moveTo(x + pad + size * 0.2, y + pad + size * 0.8); ctx.lineTo(x + pad + size * 0.8, y + pad + size * 0.2); ctx.stroke();
    }
    if (s >= 20) {
      ctx.fillStyle = "#fff";
      ctx.font = `${state === "mine" ? "700 " : ""}${Math.floor(s * 0.4)}px system-ui, sans-serif`;
      ctx.textAlign = "center"; ctx.textBaseline = "middle";
      ctx.fillText(String(rec.seat.number ?? rec.id.split("_").slice(1).join("_")), x + s / 2, y + s / 2 + 0.5, size);
    }
    if (rec === cursor) {
      ctx.strokeStyle = "#111827"; ctx.lineWidth = 2;
      ctx.strokeRect(x + 1.5, y + 1.5, Math.floor(s) - 3, Math.floor(s) - 3);
    }
  }

  // ---- the view ----
  function resize() {
    dpr = window.devicePixelRatio || 1;
    W = Math.max(1, canvas.parentElement.clientWidth); // inside the frame's border
    // As tall as the venue at the card's width, between 240 px and most of the screen.
    const fitH = W * ((venue.height + 2) / (venue.width + 2));
    H = Math.round(Math.max(240, Math.min(fitH, maxHeight())));
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    canvas.style.width = `${W}px`; canvas.style.height = `${H}px`;
    if (!moved) fitTo(0, 0, venue.width, venue.height);
    else clamp();
    invalidate();
  }
  function maxHeight() { return Math.max(240, window.innerHeight * 0.62); }
  function fitTo(x, y, w, h, minScale = 0) {
    s = Math.max(minScale, Math.min(MAX_PX, Math.min(W / (w + 1), H / (h + 1))));
    tx = W / 2 - (x + w / 2) * s; ty = H / 2 - (y + h / 2) * s;
    clamp();
  }
  function minScale() { return Math.min(W / (venue.width + 1), H / (venue.height + 1)) * 0.8; }
  // Keep some of the venue in view whatever the pan.
  function clamp() {
    s = Math.max(minScale(), Math.min(MAX_PX, s));
    const m = 40;
    tx = Math.min(W - m, Math.max(m - venue.width * s, tx));
    ty = Math.min(H - m, Math.max(m - venue.height * s, ty));
  }
  function zoomAt(px, py, factor) {
    const before = s;
    s = Math.max(minScale(), Math.min(MAX_PX, s * factor));
    tx = px - (px - tx) * (s / before); ty = py - (py - ty) * (s / before);
    moved = true; clamp(); invalidate();
  }
  function centreOn(rec, scale) {
    s = Math.max(s, scale);
    tx = W / 2 - (rec.x + 0.5) * s; ty = H * 0.35 - (rec.y + 0.5) * s;
    moved = true; clamp(); invalidate();
  }
  const onScreen = (rec) => rec.x * s + tx >= 0 && (rec.x + 1) * s + tx <= W && rec.y * s + ty >= 0 && (rec.y + 1) * s + ty <= H;
  function drill(sec) {
    moved = true;
    if (!sec) { moved = false; fitTo(0, 0, venue.width, venue.height); }
    else fitTo(sec.x, sec.y, sec.w, sec.h);
    for (const b of els.sections.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.section === (sec ? sec.name : undefined)));
    invalidate();
  }

  // ---- finding seats ----
  function local(clientX, clientY) { const r = canvas.getBoundingClientRect(); return [clientX - r.left, clientY - r.top]; }
  function seatAt(px, py) {
    const wx = (px - tx) / s, wy = (py - ty) / s;
    for (const sec of venue.sections) {
      if (wx < sec.x0 - 0.5 || wx > sec.x + sec.w + 0.5 || wy < sec.y0 || wy >= sec.y0 + sec.rowList.length) continue;
      const r = Math.floor(wy - sec.y0);
      const first = venue.seatsById.get(sec.rowList[r][1][0].id);
      const i = Math.floor(wx - first.x);
      const ids = sec.rowList[r][1];
      if (i >= 0 && i < ids.length) return venue.seatsById.get(ids[i].id);
    }
    return null;
  }
  function sectionAt(px, py) {
    const wx = (px - tx) / s, wy = (py - ty) / s;
    return venue.sections.find((sec) => wx >= sec.x && wx <= sec.x + sec.w && wy >= sec.y && wy <= sec.y + sec.h) ?? null;
  }
  // A tap: hold or release where seats are big enough to aim at; zoom in (to the section) first otherwise.
  function tap(px, py) {
    const rec = seatAt(px, py);
    if (s >= TARGET_PX && rec) { setCursor(rec, false); return page.pick(rec.id); }
    const sec = rec?.section ?? sectionAt(px, py);
    if (!sec) return;
    const sectionScale = Math.min(W / (sec.w + 1), H / (sec.h + 1));
    if (sectionScale >= TARGET_PX && s < sectionScale * 0.95) drill(sec);
    else zoomAt(px, py, Math.max(1.5, READ_PX / s));
    announce(`Zoomed in on ${sec.name || "the seats"}: tap a seat to hold it.`);
  }

  // ---- pointer, wheel, keyboard ----
  const pointers = new Map();
  let gesture = null; // {dragged, pinch: {d, s, x, y}}
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    pointers.set(e.pointerId, local(e.clientX, e.clientY));
    if (pointers.size === 1) gesture = { start: local(e.clientX, e.clientY), dragged: false, pinched: false };
    if (pointers.size === 2) { const [a, b] = [...pointers.values()]; gesture.pinched = true; gesture.pinch = { d: Math.hypot(a[0] - b[0], a[1] - b[1]) || 1 }; }
  });
  canvas.addEventListener("pointermove", (e) => {
    const p = local(e.clientX, e.clientY);
    if (!pointers.has(e.pointerId)) return hover(e, p);
    const prev = pointers.get(e.pointerId);
    pointers.set(e.pointerId, p);
    if (pointers.size === 2 && gesture?.pinch) {
      const [a, b] = [...pointers.values()];
      const d = Math.hypot(a[0] - b[0], a[1] - b[1]) || 1;
      zoomAt((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, d / gesture.pinch.d);
      gesture.pinch.d = d;
      return;
    }
    if (!gesture) return;
    if (!gesture.dragged && Math.hypot(p[0] - gesture.start[0], p[1] - gesture.start[1]) < 6) return;
    gesture.dragged = true;
    tx += p[0] - prev[0]; ty += p[1] - prev[1];
    moved = true; clamp(); invalidate();
  });
  const release = (e, tapped) => {
    if (!pointers.delete(e.pointerId)) return;
    if (tapped && pointers.size === 0 && gesture && !gesture.dragged && !gesture.pinched) tap(...local(e.clientX, e.clientY));
    if (pointers.size === 0) gesture = null;
  };
  canvas.addEventListener("pointerup", (e) => release(e, true));
  canvas.addEventListener("pointercancel", (e) => release(e, false));
  canvas.addEventListener("pointerleave", () => { els.tip.hidden = true; });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    zoomAt(...local(e.clientX, e.clientY), Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)));
  }, { passive: false });

  function hover(e, [px, py]) {
    if (e.pointerType !== "mouse") return;
    const rec = seatAt(px, py);
    els.tip.hidden = !rec;
    if (!rec) return;
    els.tip.textContent = page.describe(rec.id);
    els.tip.dataset.seat = rec.id;
    els.tip.style.left = `${Math.min(px + 14, W - 220)}px`;
    els.tip.style.top = `${py + 16}px`;
  }

  function announce(text) { els.live.textContent = text; }
  function setCursor(rec, show = true) {
    const old = cursor;
    cursor = rec;
    if (old) invalidate([old.id]);
    if (!rec) return;
    if (show && (s < READ_PX || !onScreen(rec))) centreOn(rec, READ_PX);
    invalidate([rec.id]);
    if (show) announce(page.describe(rec.id));
  }
  function move(dr, di, dsec) {
    if (!venue.sections.length) return;
    let rec = cursor ?? seatAt(W / 2, H / 2) ?? nearestToCentre();
    if (cursor && dsec) {
      const sec = venue.sections[(rec.section.index + dsec + venue.sections.length) % venue.sections.length];
      rec = sec.seats[0];
    } else if (cursor) {
      const sec = rec.section;
      const r = Math.max(0, Math.min(sec.rowList.length - 1, rec.r + dr));
      const ids = sec.rowList[r][1];
      // Up and down keep the seat under the cursor's column (rows are centred, so not the same index).
      const i = dr ? Math.round(rec.x - venue.seatsById.get(ids[0].id).x) : rec.i + di;
      rec = venue.seatsById.get(ids[Math.max(0, Math.min(ids.length - 1, i))].id);
    }
    setCursor(rec);
  }
  canvas.addEventListener("keydown", (e) => {
    const keys = {
      ArrowLeft: () => move(0, -1, 0), ArrowRight: () => move(0, 1, 0), ArrowUp: () => move(-1, 0, 0), ArrowDown: () => move(1, 0, 0),
      PageUp: () => move(0, 0, -1), PageDown: () => move(0, 0, 1),
      Home: () => move(0, -1e6, 0), End: () => move(0, 1e6, 0),
      Enter: () => cursor && page.pick(cursor.id), " ": () => cursor && page.pick(cursor.id),
      "+": () => zoomAt(W / 2, H / 2, 1.4), "=": () => zoomAt(W / 2, H / 2, 1.4), "-": () => zoomAt(W / 2, H / 2, 1 / 1.4),
      Escape: () => drill(null),
    };
    const run = keys[e.key];
    if (!run) return;
    e.preventDefault();
    run();
  });
  // Focus from the keyboard shows the cursor (a seat in the middle of the view at first); focus from
  // a tap or click must not move the view under the pointer before the tap lands.
  canvas.addEventListener("focus", () => {
    if (!canvas.matches(":focus-visible")) return;
    if (cursor) return announce(page.describe(cursor.id));
    setCursor(seatAt(W / 2, H / 2) ?? nearestToCentre());
  });
  function nearestToCentre() {
    const cx = (W / 2 - tx) / s, cy = (H / 2 - ty) / s;
    let best = null, d = Infinity;
    for (const sec of venue.sections) {
      const dd = Math.hypot(sec.x + sec.w / 2 - cx, sec.y + sec.h / 2 - cy);
      if (dd < d) { d = dd; best = sec; }
    }
    return best?.seats[0] ?? null;
  }

  els.zoomIn.onclick = () => zoomAt(W / 2, H / 2, 1.5);
  els.zoomOut.onclick = () => zoomAt(W / 2, H / 2, 1 / 1.5);

  // ---- the section strip ----
  function buildChips() {
    const all = Object.assign(document.createElement("button"), { type: "button", className: "chip", textContent: "Whole venue" });
    all.setAttribute("aria-pressed", "true");
    all.onclick = () => drill(null);
    const chips = venue.sections.map((sec) => {
      const b = Object.assign(document.createElement("button"), { type: "button", className: "chip" });
      b.dataset.section = sec.name;
      b.setAttribute("aria-pressed", "false");
      b.onclick = () => drill(sec);
      sec.chip = b;
      return b;
    });
    els.sections.replaceChildren(...(venue.sections.length > 1 ? [all] : []), ...chips);
  }
  function updateChip(sec) {
    if (!sec.chip) return;
    let free = 0;
    for (const rec of sec.seats) if (page.stateOf(rec.id) === "available") free++;
    sec.chip.replaceChildren(...page.sectionLabel(sec, free, sec.seats.length));
    sec.chip.dataset.free = String(free);
  }

  function invalidate(ids) {
    if (!ids) dirtyAll = true;
    else for (const id of ids) {
      const rec = venue.seatsById.get(id);
      if (!rec) continue;
      dirty.add(id);
      dirtySections.add(rec.section);
    }
    schedule();
  }

  new ResizeObserver(() => resize()).observe(canvas.parentElement);

  const api = {
    stats,
    onPainted: null,
    get seatCount() { return venue.seatsById.size; },
    get scale() { return s; },
    setLayout(list) {
      venue = placeSeats(list, Math.max(1, canvas.parentElement.clientWidth), maxHeight());
      cursor = null; moved = false;
      buildChips();
      resize();
    },
    invalidate,
    has: (id) => venue.seatsById.has(id),
    /** Where the seat's centre is now, in client coordinates (the view unchanged). */
    pointOf(id) {
      const rec = venue.seatsById.get(id);
      if (!rec) return null;
      const r = canvas.getBoundingClientRect();
      return { x: r.left + (rec.x + 0.5) * s + tx, y: r.top + (rec.y + 0.5) * s + ty };
    },
    /** Zooms and pans so the seat can be tapped, paints, and answers its centre in client coordinates. */
    reveal(id) {
      const rec = venue.seatsById.get(id);
      if (!rec) return null;
      canvas.scrollIntoView({ block: "start" });
      if (s < TARGET_PX || !onScreen(rec)) centreOn(rec, READ_PX);
      if (frame) { cancelAnimationFrame(frame.raf); clearTimeout(frame.timer); frame = 0; flush(); }
      return api.pointOf(id);
    },
  };
  return api;
}
