import { describe, expect, it } from "vitest";
import { ScriptReplyError } from "@seatdrop/redis";
import { decodeLockSeat, decodeReleaseHoldByAdmin, decodeReserveHold, decodeSnapshot, decodeSweepHolds } from "../src/script-results.ts";

// The decoders stand between the Lua replies and the seat service: a reply of the wrong shape must
// fail loudly, naming the script and the field, instead of becoming a wrong number downstream.
// (The well-formed path runs against real Redis in seat-service.test.ts and every seat test.)
describe("seat script reply decoders", () => {
  it("name what they read", () => {
    expect(decodeLockSeat([1, 7, 1_700_000_000_000, 1, 2, 0])).toEqual({ seq: 7, deadline: 1_700_000_000_000, newHold: true, holdSize: 2, earliest: false });
    expect(decodeReserveHold([1, 9, "A_1", "A_2"])).toEqual({ seq: 9, seats: ["A_1", "A_2"] });
    expect(decodeReserveHold([1, 9])).toEqual({ seq: 9, seats: [] });
    expect(decodeReleaseHoldByAdmin([2, "released_by_admin", "A_1", "A_2"])).toEqual({ released: 2, seats: ["A_1", "A_2"] });
    expect(decodeReleaseHoldByAdmin([0, "none"])).toEqual({ released: 0, seats: [] });
    expect(decodeSweepHolds([3, 0, 0, 0])).toEqual({ released: 3, next: 0, more: false, skipped: false });
    expect(decodeSnapshot([4, ["A_1", "L|u1"], 0, 0, [], "ep"])).toEqual({ seq: 4, flat: ["A_1", "L|u1"], deadline: 0, extensionsLeft: 0, holdSeats: [], epoch: "ep" });
  });

  it("refuse a short reply, naming the script", () => {
    expect(() => decodeLockSeat([1, 7, 100])).toThrow(ScriptReplyError);
    expect(() => decodeLockSeat([1, 7, 100])).toThrow(/^lockSeat: .*at least 6 elements, got 3/);
    expect(() => decodeSweepHolds("OK")).toThrow(/^sweepHolds: .*expected an array/);
  });

  it("refuse a field of the wrong type, naming the field and its position", () => {
    expect(() => decodeLockSeat([1, "7", 100, 1, 1, 0])).toThrow(/lockSeat: .*seq \(\[1\]\) should be an integer, got "7"/);
    expect(() => decodeLockSeat([1, 7, 100, 2, 1, 0])).toThrow(/newHold \(\[3\]\) should be 0 or 1/);
    expect(() => decodeSnapshot([4, "A_1", 0, 0, [], "ep"])).toThrow(/snapshot: .*state \(\[1\]\) should be an array of strings/);
    expect(() => decodeReserveHold([1, 9, "A_1", 5])).toThrow(/reserveHold: .*seats \(from \[2\]\) should be strings/);
  });
});
