import { describe, expect, it } from "vitest";
import { chatBusMessageSchema, presenceEntrySchema, seatEventSchema, seatMessageSchema, userBusMessageSchema } from "@seatdrop/protocol";
import { BusDecodeError, decodeBus, PresenceSet } from "../src/index.ts";

/**
 * What comes out of Redis is decoded by its schema at the boundary: a good message comes through
 * typed (with fields a newer script adds kept), a bad one is refused naming the field at fault.
 */
describe("decodeBus", () => {
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      if (err instanceof BusDecodeError) return { what: err.what, field: err.field };
      throw err;
    }
    throw new Error("not refused");
  };

  it("passes seat messages as the scripts publish them, extra fields kept", () => {
    const text = JSON.stringify({ ev: [{ seq: 7, t: "locked", seat: "A_1", u: "u1", o: "n:1", future: 1 }], ep: "e1", at: 5 });
    expect(decodeBus(seatMessageSchema, text, "seat message")).toEqual(JSON.parse(text));
    expect(decodeBus(seatEventSchema, JSON.stringify({ seq: 1, t: "paid", seat: "B_2" }), "seat log entry")).toEqual({ seq: 1, t: "paid", seat: "B_2" });
  });

  it("refuses a malformed seat message, naming the field", () => {
    expect(refusal(() => decodeBus(seatMessageSchema, "{not json", "seat message"))).toEqual({ what: "seat message", field: "(json)" });
    expect(refusal(() => decodeBus(seatMessageSchema, JSON.stringify({ ev: [{ seq: "7", t: "locked", seat: "A_1" }] }), "seat message"))).toEqual({ what: "seat message", field: "ev.0.seq" });
    expect(refusal(() => decodeBus(seatMessageSchema, JSON.stringify({ ev: [{ seq: 7, t: "stolen", seat: "A_1" }] }), "seat message"))).toEqual({ what: "seat message", field: "ev.0.t" });
    expect(refusal(() => decodeBus(seatMessageSchema, "null", "seat message"))).toEqual({ what: "seat message", field: "(message)" });
  });

  it("chat, user and presence messages: each kind checked by its own fields", () => {
    const message = { s: 3, ep: "e", o: "n:2", ev: { k: "message", id: "m1", user_id: null, content: "hi", content_type: "text", inserted_at: "2026-12-04T00:00:00Z" } };
    expect(decodeBus(chatBusMessageSchema, JSON.stringify(message), "chat message")).toEqual(message);
    expect(refusal(() => decodeBus(chatBusMessageSchema, JSON.stringify({ s: 3, ev: { k: "typing", user_id: "u" } }), "chat message"))).toEqual({ what: "chat message", field: "ev.typing" });
    expect(refusal(() => decodeBus(chatBusMessageSchema, JSON.stringify({ s: 3, ev: { k: "dance" } }), "chat message"))).toMatchObject({ field: "ev.k" });
    expect(refusal(() => decodeBus(userBusMessageSchema, JSON.stringify({ k: "notification", n: { id: 1 } }), "user message"))).toMatchObject({ field: "n.id" });
    expect(decodeBus(presenceEntrySchema, JSON.stringify({ phx_ref: "r", online_at: 1, user_id: "u", device: "phone" }), "presence entry")).toMatchObject({ device: "phone" });
  });
});

describe("PresenceSet", () => {
  it("follows a snapshot and then diffs in order, grouped by user", () => {
    const p = new PresenceSet();
    p.load([
      { phx_ref: "a1", online_at: 1, user_id: "alice" },
      { phx_ref: "b1", online_at: 2, user_id: "bob" },
    ]);
    p.apply({ alice: { metas: [{ phx_ref: "a2", online_at: 3 }] } }, { bob: { metas: [{ phx_ref: "b1", online_at: 2 }] } });
    expect(p.users).toBe(1);
    expect(p.size).toBe(2);
    expect(p.view()).toEqual({ alice: { metas: [{ phx_ref: "a1", online_at: 1 }, { phx_ref: "a2", online_at: 3 }] } });
    expect(p.view(["bob"])).toEqual({});
    // A join seen twice (the snapshot and then its diff) counts once.
    p.apply({ alice: { metas: [{ phx_ref: "a2", online_at: 3 }] } }, {});
    expect(p.size).toBe(2);
    p.load([]);
    expect(p.users).toBe(0);
  });
});
