import { describe, expect, it } from "vitest";
import { SeatMapFollower } from "../src/map-follower.js";

describe("SeatMapFollower", () => {
  it("keeps a changes map: compact snapshot, frames at or below the seq held, a gap answered resync", () => {
    const f = new SeatMapFollower({ changes: true });
    expect(f.apply("changes", { since: 0, seq: 1, seats: { A_1: "locked" } }), "before the join reply").toBe("ignored");
    expect(f.rejoinParams()).toEqual({});
    f.join({ mode: "snapshot", seq: 5, epoch: "e1", seats: { A_2: "locked", A_3: "paid" } });
    // A join lands between two flushes: its first frame may start before the join's seq.
    expect(f.apply("changes", { since: 4, seq: 7, seats: { A_2: "available", A_4: "reserved" } })).toBe("applied");
    expect(f.taken()).toEqual(["A_3", "A_4"]);
    expect(f.rejoinParams()).toEqual({ last_seq: 7, epoch: "e1" });
    expect(f.apply("changes", { since: 9, seq: 10, seats: { A_5: "locked" } })).toBe("resync");
    expect(f.resyncNeeded).toBe(true);
    expect(f.state("A_5"), "a frame after a gap is not applied").toBe("available");
    expect(f.rejoinParams()).toEqual({ last_seq: 7, epoch: "e1" });
    f.leave();
    expect(f.apply("changes", { since: 7, seq: 8, seats: { A_6: "locked" } }), "between the error and the rejoin reply").toBe("ignored");
    f.join({ mode: "changes", seq: 10, epoch: "e1", seats: { A_5: "locked", A_3: "available" } });
    expect(f.resyncNeeded).toBe(false);
    expect(f.taken()).toEqual(["A_4", "A_5"]);
  });

  it("keeps one seq per section stream", () => {
    const f = new SeatMapFollower({ changes: true });
    f.join({ mode: "snapshot", seq: 3, epoch: "e", seats: {}, sections: ["floor", "balcony"] });
    expect(f.apply("changes", { since: 3, seq: 9, section: "floor", seats: { F_1: "locked" } })).toBe("applied");
    expect(f.apply("changes", { since: 3, seq: 5, section: "balcony", seats: { B_1: "locked" } })).toBe("applied");
    expect([...f.seqOf]).toEqual([["floor", 9], ["balcony", 5]]);
    expect(f.lastSeq).toBe(5);
    expect(f.apply("changes", { since: 6, seq: 8, section: "balcony", seats: {} })).toBe("resync");
    expect(f.apply("changes", { since: 1, seq: 2, section: "stage", seats: { S_1: "locked" } }), "a stream not joined").toBe("ignored");
  });

  it("with changes, personal frames change the map but not the streams' seqs", () => {
    const f = new SeatMapFollower({ changes: true });
    f.join({ mode: "snapshot", seq: 1, epoch: "e", seats: {} });
    expect(f.apply("lockedForYou", { seat: "A_1", seq: 5 })).toBe("applied");
    expect(f.apply("locked", { seat: "A_9", seq: 6 }), "per-change broadcasts are not sent with changes").toBe("ignored");
    expect(f.lastSeq).toBe(1);
    expect(f.apply("deleted", { seats: ["A_1"], seq: 7, reason: "expired" })).toBe("applied");
    expect(f.taken()).toEqual([]);
  });

  it("keeps every layout seat when given one, and ignores seats outside it", () => {
    const seats = new Map<string, string>();
    const f = new SeatMapFollower({ changes: true, seats, layout: ["A_1", "A_2"] });
    f.join({ mode: "snapshot", seq: 1, epoch: "e", seats: { A_2: "paid", Z_9: "locked" } });
    expect([...seats]).toEqual([["A_1", "available"], ["A_2", "paid"]]);
    f.apply("changes", { since: 1, seq: 2, seats: { A_1: "locked", Z_8: "locked" } });
    expect([...seats]).toEqual([["A_1", "locked"], ["A_2", "paid"]]);
  });

  it("follows per-change events: snapshot, events catch-up, deleted, a skipped seq", () => {
    const f = new SeatMapFollower();
    f.join({ mode: "snapshot", seq: 2, epoch: "e", seats: { A_1: "locked", A_2: "available" } });
    expect(f.apply("lockedForYou", { seat: "A_2", seq: 3 })).toBe("applied");
    expect(f.apply("deleted", { seats: ["A_1", "A_2"], seq: 5, reason: "expired" }), "a released hold names several seqs at once").toBe("applied");
    expect(f.taken()).toEqual([]);
    f.join({ mode: "events", seq: 8, epoch: "e", events: [{ event: "locked", seat: "A_3" }, { event: "reserved", seat: "A_4" }, { event: "unlocked", seat: "A_3" }] });
    expect(f.taken()).toEqual(["A_4"]);
    expect(f.apply("paid", { seat: "A_4", seq: 9 })).toBe("applied");
    expect(f.apply("locked", { seat: "A_5", seq: 11 })).toBe("resync");
    expect(f.rejoinParams()).toEqual({ last_seq: 9, epoch: "e" });
  });

  it("a client that only counts gaps applies frames after one", () => {
    const f = new SeatMapFollower({ changes: true, applyGaps: true });
    f.join({ mode: "snapshot", seq: 1, epoch: "e", seats: {} });
    expect(f.apply("changes", { since: 4, seq: 5, seats: { A_1: "locked" } })).toBe("resync");
    expect(f.taken()).toEqual(["A_1"]);
    expect(f.lastSeq).toBe(5);
  });

  it("a catch-up reply of another epoch is not applied on top", () => {
    const f = new SeatMapFollower({ changes: true });
    f.join({ mode: "snapshot", seq: 40, epoch: "old", seats: { A_1: "locked" } });
    expect(f.join({ mode: "changes", seq: 3, epoch: "new", seats: { A_2: "locked" } })).toBe("resync");
    expect(f.taken()).toEqual([]);
    expect(f.rejoinParams()).toEqual({});
    expect(f.join({ mode: "snapshot", seq: 3, epoch: "new", seats: { A_2: "locked" } })).toBe("applied");
    expect(f.rejoinParams()).toEqual({ last_seq: 3, epoch: "new" });
  });
});
