import { describe, expect, it } from "vitest";
import type { WebSocket } from "uWebSockets.js";
import { endConn, flushSends, newConn, sendJoinReply, sendTo, type Conn, type UserData } from "../src/conn.ts";

/**
 * The send path of conn.ts: frames a turn of the event loop sends to one socket go out as one
 * corked write at the end of the turn, in order, and nothing that sends by other means (a join
 * reply, a close) overtakes them. The socket here records what uWS was asked to do.
 */
function recorder(buffered = 0) {
  const log: string[] = [];
  let corked = false;
  const ws = {
    send(frame: string) {
      log.push(`${corked ? "corked " : ""}send ${frame}`);
      return 1;
    },
    cork(cb: () => void) {
      corked = true;
      log.push("cork");
      cb();
      corked = false;
      log.push("uncork");
      return ws;
    },
    end(code: number) {
      log.push(`end ${code}`);
    },
    getBufferedAmount: () => buffered,
  };
  return { log, ws: ws as unknown as WebSocket<UserData> };
}

function open(buffered = 0): { conn: Conn; log: string[] } {
  const conn = newConn("n", "phx", null, { rate: 10, burst: 10, maxBuffered: 1000, replyStallMs: 1000 });
  const r = recorder(buffered);
  conn.ws = r.ws;
  return { conn, log: r.log };
}

const turn = () => new Promise((r) => setImmediate(r));

describe("sendTo", () => {
  it("sends a socket's frames of one turn in one corked write, in order, at the end of the turn", async () => {
    const a = open();
    const b = open();
    sendTo(a.conn, "reply");
    sendTo(b.conn, "other");
    sendTo(a.conn, "lockedForYou");
    expect(a.log).toEqual([]); // nothing yet: the turn is not over
    await turn();
    expect(a.log).toEqual(["cork", "corked send reply", "corked send lockedForYou", "uncork"]);
    expect(b.log).toEqual(["send other"]); // a lone frame needs no cork
  });

  it("a join reply or a close goes after the frames already queued, never before", () => {
    const a = open();
    sendTo(a.conn, "push reply");
    sendJoinReply(a.conn, "join reply");
    expect(a.log).toEqual(["send push reply", "send join reply"]);
    const b = open();
    sendTo(b.conn, "error reply");
    endConn(b.conn, 4429, "rate_limited");
    expect(b.log).toEqual(["send error reply", "end 4429"]);
  });

  it("flushSends sends what is queued at once (before a topic publish), and a closed socket's frames are dropped", () => {
    const a = open();
    const b = open();
    sendTo(a.conn, "one");
    sendTo(b.conn, "two");
    b.conn.closed = true;
    flushSends();
    expect(a.log).toEqual(["send one"]);
    expect(b.log).toEqual([]);
    expect(sendTo(b.conn, "three")).toBe(false);
  });

  it("frames that would join a backlog past the bound are not sent: the socket is closed as a slow consumer", () => {
    const a = open(900);
    sendTo(a.conn, "x".repeat(200));
    flushSends();
    expect(a.log).toEqual(["end 4408"]);
  });
});
