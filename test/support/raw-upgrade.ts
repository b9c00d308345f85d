import { randomBytes } from "node:crypto";
import http from "node:http";

/**
 * A bare HTTP upgrade request, to read a refusal's status, headers and body (or a 101's headers).
 * `localAddress` picks the source address (127.0.0.x: distinct clients on one machine).
 */
export function rawUpgrade(p: number, path: string, headers: Record<string, string> = {}, localAddress?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: "127.0.0.1",
      port: p,
      path,
      ...(localAddress ? { localAddress } : {}),
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
        ...headers,
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: "" });
    });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}
