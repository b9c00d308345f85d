import fp from "fastify-plugin";
import type { ApiDeps } from "../deps.ts";

declare module "fastify" {
  interface FastifyInstance {
    /** The app's outside world (config, database, Redis); see {@link ApiDeps}. */
    deps: ApiDeps;
  }
}

/** Makes the dependencies available to every route as `app.deps`. */
export const depsPlugin = fp<{ deps: ApiDeps }>(
  async (app, opts) => {
    app.decorate("deps", opts.deps);
  },
  { name: "deps", fastify: "5.x" },
);
