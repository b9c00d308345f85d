// Following one event's seat map on `seats:<eventId>` (docs/protocol.md): pure logic, no socket and
// no DOM, so the buyer page (served as a static file, no build step), the tests and the load
// generator keep a map by the same rules. Plain JavaScript with JSDoc types (map-follower.d.ts
// declares the same API for TypeScript callers).
//
// Give it each join reply (`join`), then each pushed frame (`apply`). It keeps seat -> state, the
// epoch and the seq held per stream (the whole event "", or each section joined), and answers
// "resync" when a frame shows a missed one: the caller then rejoins with `rejoinParams()` and gives
// the reply to `join` again.

/** @typedef {"available" | "locked" | "reserved" | "paid"} SeatState */
/** @typedef {"applied" | "ignored" | "resync"} FollowResult */

/** The state each per-change Phoenix event leaves its seat in. */
export const STATE_AFTER = Object.freeze({
  locked: "locked",
  lockedForYou: "locked",
  unlocked: "available",
  unlockedForYou: "available",
  reserved: "reserved",
  unreserved: "available",
  paid: "paid",
  unpaid: "available",
});

/** Frames about the connection's own hold: immediate, and outside the streams' seq chains with `changes`. */
const PERSONAL = new Set(["lockedForYou", "unlockedForYou", "deleted"]);

export class SeatMapFollower {
  /**
   * @param {object} [options]
   * @param {boolean} [options.changes] the join asked for `changes` frames (else per-change events)
   * @param {Map<string, string>} [options.seats] the map to keep (default: a new one); the caller may read it
   * @param {Iterable<string>} [options.layout] every seat watched: the map then holds each of them,
   *   `available` included, and ignores other seats; without it the map holds only taken seats
   * @param {boolean} [options.applyGaps] a client that only counts gaps and never rejoins: a frame
   *   after a gap is still applied and its seq held (the answer is "resync" all the same)
   */
  constructor(options = {}) {
    this.changes = options.changes === true;
    /** @type {Map<string, string>} seat -> state */
    this.seats = options.seats ?? new Map();
    /** @type {Set<string> | null} */
    this.layout = options.layout ? new Set(options.layout) : null;
    this.applyGaps = options.applyGaps === true;
    /** @type {Map<string, number>} the seq held per stream ("" is the whole event) */
    this.seqOf = new Map();
    /** @type {string | undefined} */
    this.epoch = undefined;
    /** Whether a join reply was applied since the last `leave()`/`reset()`: frames before it are ignored. */
    this.joined = false;
    /** Set by a gap or an epoch change, cleared by the next join reply. */
    this.resyncNeeded = false;
  }

  /** Forgets the map, the seqs and the epoch (another event, another session); the next join is a fresh one. */
  reset() {
    this.seats.clear();
    this.seqOf.clear();
    this.epoch = undefined;
    this.joined = false;
    this.resyncNeeded = false;
  }

  /** The channel was left or errored: frames are ignored until the next join reply; the map and seqs stay for the rejoin. */
  leave() {
    this.joined = false;
  }

  /**
   * A join (or rejoin) reply: `snapshot` replaces the map; `changes` (final states since `last_seq`)
   * and `events` (the events since `last_seq`) are applied on top. A catch-up reply of another epoch
   * than the one held cannot be applied on top: the map is dropped and "resync" answered.
   * @param {{mode: string, seq: number, epoch?: string, seats?: Record<string, string>, events?: Array<{event: string, seat?: string, seats?: string[]}>, sections?: string[]}} reply
   * @returns {FollowResult}
   */
  join(reply) {
    if (reply.mode !== "snapshot" && this.epoch !== undefined && reply.epoch !== undefined && reply.epoch !== this.epoch) {
      this.reset();
      this.resyncNeeded = true;
      return "resync";
    }
    if (reply.mode === "snapshot") {
      this.seats.clear();
      this.seqOf.clear();
      if (this.layout) for (const id of this.layout) this.seats.set(id, "available");
    }
    if (reply.seats) this.setStates(reply.seats);
    for (const ev of reply.events ?? []) this.applyEvent(ev.event, ev);
    this.epoch = reply.epoch ?? this.epoch;
    for (const s of reply.sections ?? [""]) this.seqOf.set(s, reply.seq);
    this.joined = true;
    this.resyncNeeded = false;
    return "applied";
  }

  /**
   * A pushed frame of the seat topic. "applied": the map changed by it; "ignored": not a seat frame,
   * or not joined yet (the join reply covers it); "resync": this frame shows a missed one (or another
   * epoch): rejoin with `rejoinParams()` (`resyncNeeded` stays set until the reply).
   * @param {string} event
   * @param {any} payload
   * @returns {FollowResult}
   */
  apply(event, payload) {
    if (!this.joined || payload === null || typeof payload !== "object") return "ignored";
    if (typeof payload.epoch === "string" && this.epoch !== undefined && payload.epoch !== this.epoch) return this.gap();
    if (event === "changes") {
      if (!this.changes) return "ignored";
      const stream = payload.section ?? "";
      const held = this.seqOf.get(stream);
      if (held === undefined) return "ignored";
      // A join lands between two flushes: a frame starting at or below the seq held repeats final
      // states, which is harmless; one starting above it means a frame was missed.
      const missed = payload.since > held && this.gap();
      if (missed && !this.applyGaps) return "resync";
      this.setStates(payload.seats);
      this.seqOf.set(stream, Math.max(held, payload.seq));
      return missed ? "resync" : "applied";
    }
    if (STATE_AFTER[event] === undefined && event !== "deleted") return "ignored";
    if (this.changes) {
      // With `changes` only the connection's own frames come one by one; their seats also come in
      // the next `changes` frame, whose chain they do not belong to.
      if (!PERSONAL.has(event)) return "ignored";
      this.applyEvent(event, payload);
      return "applied";
    }
    const held = this.seqOf.get("");
    const seq = payload.seq;
    // Every watcher hears every event, one seq each; `deleted` names a whole released hold at once.
    const missed = held !== undefined && typeof seq === "number" && event !== "deleted" && seq > held + 1 && this.gap();
    if (missed && !this.applyGaps) return "resync";
    this.applyEvent(event, payload);
    if (typeof seq === "number") this.seqOf.set("", Math.max(held ?? 0, seq));
    return missed ? "resync" : "applied";
  }

  /** The lowest seq held over the streams (what a rejoin sends as `last_seq`), or undefined before a join. */
  get lastSeq() {
    return this.seqOf.size === 0 ? undefined : Math.min(...this.seqOf.values());
  }

  /**
   * The part of a (re)join payload that catches up from this map: `{last_seq, epoch}`, or `{}` before
   * the first reply or after a reset (a fresh snapshot).
   * @returns {{last_seq?: number, epoch?: string}}
   */
  rejoinParams() {
    const last = this.lastSeq;
    if (last === undefined) return {};
    return this.epoch === undefined ? { last_seq: last } : { last_seq: last, epoch: this.epoch };
  }

  /** @param {string} seat @returns {string} the seat's state (`available` when the map does not hold it) */
  state(seat) {
    return this.seats.get(seat) ?? "available";
  }

  /** @returns {string[]} the seats not available, sorted */
  taken() {
    const out = [];
    for (const [seat, state] of this.seats) if (state !== "available") out.push(seat);
    return out.sort();
  }

  /** @private */
  gap() {
    this.resyncNeeded = true;
    return true;
  }

  /** @private @param {string} event @param {{seat?: string, seats?: string[]}} p */
  applyEvent(event, p) {
    if (event === "deleted") {
      for (const s of p.seats ?? []) this.setState(s, "available");
      return;
    }
    const state = STATE_AFTER[/** @type {keyof typeof STATE_AFTER} */ (event)];
    if (state !== undefined && typeof p.seat === "string") this.setState(p.seat, state);
  }

  /** @private @param {Record<string, string>} states */
  setStates(states) {
    for (const seat of Object.keys(states)) this.setState(seat, /** @type {string} */ (states[seat]));
  }

  /** @private @param {string} seat @param {string} state */
  setState(seat, state) {
    if (this.layout) {
      if (this.layout.has(seat)) this.seats.set(seat, state);
    } else if (state === "available") this.seats.delete(seat);
    else this.seats.set(seat, state);
  }
}
