import { describe, expect, it } from "vitest";
import { ScriptReplyError } from "@seatdrop/redis";
import { decodeChatEmit, decodeChatRate, decodePresenceBatch, decodePresenceLeave, decodeTyping } from "../src/scripts.ts";

/**
 * The chat scripts' replies are read through decoders that check what they read: the replies the
 * scripts give (their headers' `Output`) decode, and a reply of another shape fails naming the
 * script and field instead of travelling on as a wrong number.
 */
describe("chat script replies", () => {
  it("decode what the scripts return", () => {
    expect(decodeChatEmit([12, "ep1"])).toEqual({ seq: 12, epoch: "ep1" });
    expect(decodeTyping(1)).toBe(true);
    expect(decodeTyping(0)).toBe(false);
    expect(decodeChatRate([1, 4])).toEqual({ ok: true, left: 4 });
    expect(decodeChatRate([0, 2500, "slow"])).toEqual({ ok: false, waitMs: 2500, why: "slow" });
    expect(decodePresenceBatch([0, "", 0, 0])).toEqual({ seq: 0, epoch: "", joined: 0, gone: 0 });
    expect(decodePresenceLeave([3, 40])).toEqual({ removed: 3, seq: 40 });
  });

  it("refuse any other shape, naming the script and field", () => {
    expect(() => decodeChatEmit(["12", "ep1"])).toThrow(/chatEmit: unexpected reply: seq \(\[0\]\) should be an integer/);
    expect(() => decodeChatRate([0, 2500, "tired"])).toThrow(/chatRate: unexpected reply: why \(\[2\]\) should be one of slow, rate/);
    expect(() => decodeTyping("OK")).toThrow(ScriptReplyError);
    expect(() => decodePresenceBatch([1, "e"])).toThrow(/presenceBatch: unexpected reply: expected at least 4 elements/);
    expect(() => decodePresenceLeave(null)).toThrow(ScriptReplyError);
  });
});
