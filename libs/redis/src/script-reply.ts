/**
 * Reading a Lua script's reply, for every family of scripts (seats, chat, waiting rooms): each
 * decoder checks the shape it reads and names the fields, so a script whose reply changes fails with the
 * script, position and field named, not as a wrong number further on.
 */

/** A script replied with something its decoder does not accept: a bug, never the client's input. */
export class ScriptReplyError extends Error {
  constructor(script: string, detail: string) {
    super(`${script}: unexpected reply: ${detail}`);
    this.name = "ScriptReplyError";
  }
}

/** Reads a reply's fields by position, naming the field when one has the wrong type. */
export class ReplyReader {
  constructor(
    private readonly script: string,
    readonly reply: unknown[],
  ) {}

  int(at: number, field: string): number {
    const v = this.reply[at];
    if (typeof v !== "number" || !Number.isInteger(v)) throw this.bad(at, field, "an integer");
    return v;
  }

  flag(at: number, field: string): boolean {
    const v = this.int(at, field);
    if (v !== 0 && v !== 1) throw this.bad(at, field, "0 or 1");
    return v === 1;
  }

  str(at: number, field: string): string {
    const v = this.reply[at];
    if (typeof v !== "string") throw this.bad(at, field, "a string");
    return v;
  }

  /** A string that must be one of `allowed` (a phase, a state). */
  oneOf<T extends string>(at: number, field: string, allowed: ReadonlySet<T>): T {
    const v = this.str(at, field);
    if (!allowed.has(v as T)) throw this.bad(at, field, `one of ${[...allowed].join(", ")}`);
    return v as T;
  }

  strs(at: number, field: string): string[] {
    const v = this.reply[at];
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw this.bad(at, field, "an array of strings");
    return v as string[];
  }

  /** The strings from `at` to the end. */
  rest(at: number, field: string): string[] {
    const v = this.reply.slice(at);
    if (!v.every((x) => typeof x === "string")) throw new ScriptReplyError(this.script, `${field} (from [${at}]) should be strings`);
    return v as string[];
  }

  private bad(at: number, field: string, want: string): ScriptReplyError {
    return new ScriptReplyError(this.script, `${field} ([${at}]) should be ${want}, got ${JSON.stringify(this.reply[at]) ?? "nothing"}`);
  }
}

export function readReply(script: string, reply: unknown, minLength: number): ReplyReader {
  if (!Array.isArray(reply)) throw new ScriptReplyError(script, `expected an array, got ${JSON.stringify(reply)}`);
  if (reply.length < minLength) throw new ScriptReplyError(script, `expected at least ${minLength} elements, got ${reply.length}`);
  return new ReplyReader(script, reply);
}
