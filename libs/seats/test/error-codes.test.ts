import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SeatErrorCode, seatErrorFromCode, seatErrorMessages } from "@seatdrop/seats";

/**
 * The Lua scripts return the numbers of `E` in seatLib.lua; TypeScript turns them into reasons with
 * SeatErrorCode. They used to be kept in step by a comment: a code added on one side only would
 * reach clients as the wrong reason (or as an internal error).
 */
describe("seat error codes", () => {
  it("the Lua `E` table and SeatErrorCode list the same codes with the same numbers", () => {
    const lua = readFileSync(new URL("../lua/includes/seatLib.lua", import.meta.url), "utf8");
    const table = /local E = \{([\s\S]*?)\n\}/.exec(lua)?.[1];
    expect(table, "seatLib.lua defines `local E = { … }`").toBeDefined();
    const fromLua = Object.fromEntries([...table!.matchAll(/([A-Z_]+)\s*=\s*(-\d+)/g)].map(([, name, n]) => [name!.toLowerCase(), Number(n)]));
    expect(Object.keys(fromLua).length).toBeGreaterThan(0);
    expect(fromLua).toEqual({ ...SeatErrorCode });
  });

  it("every code has a message and a distinct number", () => {
    const numbers = Object.values(SeatErrorCode);
    expect(new Set(numbers).size).toBe(numbers.length);
    for (const reason of Object.keys(SeatErrorCode)) expect(seatErrorMessages[reason as keyof typeof SeatErrorCode]).toBeTruthy();
  });

  it("a refusal that carries a wait says it in seconds, never the field's name", () => {
    for (const reason of ["relock_cooldown", "seat_offered", "hold_budget"] as const) {
      const message = seatErrorFromCode(SeatErrorCode[reason], "A_1", 4200).message;
      expect(message, reason).toMatch(/ in 5 s$/);
      expect(message, reason).not.toContain("retry_after_ms");
    }
    expect(seatErrorFromCode(SeatErrorCode.hold_limit, "A_1").message).toBe(seatErrorMessages.hold_limit);
  });
});
