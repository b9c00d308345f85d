import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { rawUpgrade } from "../../../test/support/raw-upgrade.ts";
import { startOrdersWorld, type OrdersWorld } from "./orders-harness.ts";

let w: OrdersWorld;
beforeAll(async () => {
  w = await startOrdersWorld();
});
afterAll(() => w.close());

describe("sign-out and open sockets", () => {
  it("closes every socket still open with the token (4401) on every node, and refuses it at the next connect", async () => {
    const r = await w.app.inject({ method: "POST", url: "/api/users/create", payload: { user_params: { username: "leaver", email: "leaver@example.com", password_hash: "leaver-password" } } });
    const token = r.json().token as string;
    const open = (node: number) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${w.cluster.nodes[node]!.port}/socket/websocket?vsn=2.0.0&token=${token}`);
        ws.once("open", () => resolve(ws));
        ws.once("error", reject);
      });
    const sockets = [await open(0), await open(1)];
    const closes = sockets.map((ws) => new Promise<number>((resolve) => ws.once("close", (code) => resolve(code))));
    const out = await w.app.inject({ method: "POST", url: "/api/users/sign_out", headers: { authorization: `Bearer ${token}` } });
    expect(out.statusCode).toBeLessThan(300);
    expect(await Promise.all(closes)).toEqual([4401, 4401]);
    const again = await rawUpgrade(w.cluster.nodes[0]!.port, `/socket/websocket?vsn=2.0.0&token=${token}`);
    expect(again.status).toBe(401);
    expect(JSON.parse(again.body).error).toBe("token_revoked");
  });
});
