export { buildApp, type ApiApp } from "./app.ts";
export type { ApiDeps } from "./deps.ts";
export { bootstrapAdmin } from "./services/bootstrap-admin.ts";
