import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { bearerSecurity } from "../schemas/common.ts";
import { devPaymentRoutes } from "./dev-payments.ts";
import { opsStatus } from "../services/ops-status.ts";

const pageFile = (name: string) => readFileSync(fileURLToPath(new URL(`../pages/${name}`, import.meta.url)), "utf8");
const seatMapHtml = pageFile("seat-map.html");
// The page's own script and style, static files beside it (no build step).
// The seat-map follower is the protocol library's own file (plain JavaScript, shared with the tests
// and the load generator), served as it is so the page keeps a map by the same rules.
const mapFollowerJs = readFileSync(fileURLToPath(new URL("../../../../libs/protocol/src/map-follower.js", import.meta.url)), "utf8");
const seatMapAssets = {
  "/seat-map.js": ["text/javascript", pageFile("seat-map.js")],
  "/seat-map.css": ["text/css", pageFile("seat-map.css")],
  "/wording.js": ["text/javascript", pageFile("wording.js")],
  "/seat-canvas.js": ["text/javascript", pageFile("seat-canvas.js")],
  "/map-follower.js": ["text/javascript", mapFollowerJs],
  // The ops console's script (its page is /ops).
  "/ops.js": ["text/javascript", pageFile("ops.js")],
} as const;
const opsHtml = readFileSync(fileURLToPath(new URL("../pages/ops.html", import.meta.url)), "utf8");
// The stock Phoenix client, as the page imports it (the package's own ES module build).
const phoenixJs = readFileSync(join(dirname(createRequire(import.meta.url).resolve("phoenix")), "phoenix.mjs"), "utf8");

/**
 * The seat-map page (`/`, `/seats`): pick an event, sign in, click seats to lock them and watch
 * everyone else's locks live through the stock Phoenix client; hold, extend, order and pay, see your
 * orders and tickets, and chat with the event's other ticket holders. It talks to a
 * ws-node at PUBLIC_WS_URL (default: the host the browser loaded the page from, the first port of
 * WS_PORTS), or `?ws=<url>` on that same host.
 * The ops page (`/ops`, admin sign-in) shows every app's health and load, Redis, the job queues and
 * the current events, from `GET /api/ops/status`.
 */
export const pageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config } = app.deps;
  // The page is the same for every request: nothing from the request (Host, X-Forwarded-Host) is
  // written into it. Written unescaped, either would choose where the page sends its token
  // (docs/reliability.md, round one, finding 6): `Host: x</script><script>…` would run, and a
  // shared cache could keep the poisoned page. Without PUBLIC_WS_URL the browser derives the URL
  // from its own location, which no header sets.
  const wsUrlScript = config.PUBLIC_WS_URL
    ? `window.SEATDROP_WS_URL = ${scriptJson(config.PUBLIC_WS_URL)};`
    : `window.SEATDROP_WS_URL = (location.protocol === "https:" ? "wss://" : "ws://") + location.hostname + ":" + ${scriptJson(String(config.WS_PORTS[0]))} + "/socket";`;
  // The development payment provider exists only outside production (its routes are not even
  // registered there), and the page offers "Pay" only when it does.
  const devPayments = config.DEV_PAYMENTS;
  const pageConfig = `${wsUrlScript} window.SEATDROP_CURRENCY = ${scriptJson(config.CURRENCY)}; window.SEATDROP_DEV_PAYMENTS = ${devPayments};`;
  const page = seatMapHtml.replace('<script type="module" src="/seat-map.js">', `<script>${pageConfig}</script>\n<script type="module" src="/seat-map.js">`);
  for (const url of ["/", "/seats"])
    app.get(url, { schema: { hide: true } }, async (_request, reply) => reply.type("text/html; charset=utf-8").send(page));
  for (const [url, [type, body]] of Object.entries(seatMapAssets))
    app.get(url, { schema: { hide: true } }, async (_request, reply) => reply.type(`${type}; charset=utf-8`).header("cache-control", "no-cache").send(body));
  if (devPayments) await app.register(devPaymentRoutes);
  app.get("/ops", { schema: { hide: true } }, async (_request, reply) => reply.type("text/html; charset=utf-8").send(opsHtml));
  app.get(
    "/api/ops/status",
    {
      onRequest: app.requireRole("admin", "service"),
      schema: {
        tags: ["ops"],
        summary: "The cluster at a glance: apps, Redis, job queues, current events and their waiting rooms (the ops page reads it)",
        description:
          "Each current event's `waiting_room` is null without a room, else `{state, waiting, admitted, shopping, admitted_per_minute, free_seats, paused, max_active}` " +
          "(state `unknown` and the figures null when Redis could not be read).",
        security: bearerSecurity,
      },
    },
    async () => opsStatus({ config, db: app.deps.db.db, redis: app.deps.redis, keys: app.deps.keys, rooms: app.rooms }),
  );
  app.get("/vendor/phoenix.mjs", { schema: { hide: true } }, async (_request, reply) =>
    reply.type("text/javascript; charset=utf-8").header("cache-control", "public, max-age=3600").send(phoenixJs),
  );
};

/**
 * JSON that is safe inside an inline `<script>`: `<`, `>` and `&` are written as `\u003c`… so no value
 * can close the script (`</script>`) or open a comment (`<!--`), and U+2028/U+2029 (line breaks to
 * old JavaScript parsers) are escaped too. The value reads back exactly.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
