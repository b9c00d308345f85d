import { describe, expect, it } from "vitest";
import { createKeys } from "../src/keys.ts";

describe("the key builder", () => {
  const keys = createKeys("sdc");
  const id = "0b6f3c2e-6a53-4c1e-9d57-1f1a2b3c4d5e";

  it("finds an event's id in its meta hash key, and in no other key the meta pattern also matches", () => {
    expect(keys.eventOfMeta(keys.event(id).meta)).toBe(id);
    // `{e:*}:meta` also matches the waiting room's meta hash (the `*` spans `}:wr`): not an event's.
    expect(keys.room(id).meta.startsWith("sdc:{e:")).toBe(true);
    expect(keys.room(id).meta.endsWith(":meta")).toBe(true);
    expect(keys.eventOfMeta(keys.room(id).meta)).toBeNull();
    expect(keys.eventOfMeta(keys.event(id).state)).toBeNull();
    expect(keys.eventOfMeta(createKeys("other").event(id).meta)).toBeNull();
  });

  it("keeps every key of an event, its chat room and its waiting room under the event's hash tag", () => {
    const tag = `{e:${id}}`;
    const e = keys.event(id);
    for (const k of [e.meta, e.state, e.seq, e.log, e.channel, e.holdInfo, e.cool, e.live, e.offers, ...e.script, ...keys.chat(id).script, keys.chat(id).seq, keys.chat(id).channel, keys.room(id).meta, keys.room(id).queue]) {
      expect(k.slice(k.indexOf("{"), k.indexOf("}") + 1)).toBe(tag);
    }
  });
});
