import { describe, expect, it } from "vitest";
import { chatHistoryPayload, chatJoinPayload, decodeSeed, isUuid, parsePush, seatJoinPayload, seatPushPayloads } from "../src/index.ts";

const refused = (field: string, message: string) => ({ ok: false, error: { reason: "malformed_payload", field, message } });

describe("parsePush", () => {
  it("names the first bad field in declaration order, with the reply's message", () => {
    expect(parsePush(seatJoinPayload, { last_seq: -1, epoch: 3 })).toEqual(refused("last_seq", "last_seq must be a non-negative integer"));
    expect(parsePush(seatJoinPayload, { last_seq: 2 ** 60 })).toEqual(refused("last_seq", "last_seq must be a non-negative integer"));
    expect(parsePush(seatJoinPayload, { epoch: 3, changes: "yes" })).toEqual(refused("epoch", "epoch must be the string a join reply gave"));
    expect(parsePush(seatJoinPayload, { sections: ["A"] })).toEqual(refused("sections", "sections are served only with changes: true"));
    expect(parsePush(seatJoinPayload, { changes: true, sections: [] })).toEqual(refused("sections", "sections must be a list of 1 to 64 section names"));
    expect(parsePush(seatPushPayloads.lock, { seat: "A 1" })).toEqual(refused("seat", "seat must be a seat id such as A_2_2"));
    expect(parsePush(chatJoinPayload, { ticket_number: null })).toEqual(refused("ticket_number", "ticket_number must be a string of 1 to 64 characters"));
    expect(parsePush(chatHistoryPayload(50), { limit: 51 })).toEqual(refused("limit", "limit must be an integer from 1 to 50"));
  });

  it("returns the typed payload: nulls read as absent, sections deduplicated", () => {
    expect(parsePush(seatJoinPayload, { last_seq: null, epoch: null })).toEqual({ ok: true, value: { lastSeq: undefined, epoch: undefined, changes: false, sections: null } });
    expect(parsePush(seatJoinPayload, { last_seq: 0, epoch: "e", changes: true, sections: ["A", "B", "A"] })).toEqual({
      ok: true,
      value: { lastSeq: 0, epoch: "e", changes: true, sections: ["A", "B"] },
    });
    expect(parsePush(seatPushPayloads.extend, { seat: 5 })).toEqual({ ok: true, value: {} });
  });

  it("shares one seat-id pattern with the legacy seat dialect and one lower-case UUID pattern", () => {
    expect(decodeSeed(JSON.stringify({ action: "lock", seat: "A 1" }))).toMatchObject({ ok: false, field: "seat" });
    expect(parsePush(seatPushPayloads.unlock, { seat: "x".repeat(65) }).ok).toBe(false);
    expect(isUuid("0190c3d4-5e6f-7a8b-9c0d-1e2f3a4b5c6d")).toBe(true);
    expect(isUuid("0190C3D4-5E6F-7A8B-9C0D-1E2F3A4B5C6D")).toBe(false);
    expect(isUuid(42)).toBe(false);
  });
});
