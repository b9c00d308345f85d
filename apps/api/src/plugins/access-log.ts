import fp from "fastify-plugin";

/** Paths that load balancers and Prometheus probe every few seconds: logged at debug, not info. */
const PROBES = new Set(["/healthz", "/readyz", "/metrics"]);

/**
 * One access line per answered request: method, path (without the query string, which can carry
 * what a client typed), status and milliseconds, with Fastify's request id. Fastify's own pair of
 * lines (`incoming request`, `request completed`) is off (`disableRequestLogging`): in a
 * development session they were 533 of 618 lines. Health and metrics probes go at debug.
 */
export const accessLogPlugin = fp(
  async (app) => {
    app.addHook("onResponse", async (request, reply) => {
      const url = request.url.split("?")[0]!;
      const line = { method: request.method, url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 };
      if (PROBES.has(url)) request.log.debug(line, "request");
      else request.log.info(line, "request");
    });
  },
  { name: "access-log", fastify: "5.x" },
);
