import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SeatErrorCode, seatErrorMessages } from "@seatdrop/seats";

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
});
