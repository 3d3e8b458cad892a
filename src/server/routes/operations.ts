// Operations: GET /metrics (every worker's and the primary's, aggregated by the primary),
// /healthz, /readyz and /openapi.json (these three need no token).

import type { FastifyInstance } from "fastify";
import { ROLES } from "../access.js";
import { errorBody } from "../http.js";
import type { Backend } from "../http.js";
import { OPENAPI } from "../openapi.js";

export async function operationRoutes(app: FastifyInstance, { backend }: { backend: Backend }): Promise<void> {
  app.get("/metrics", { config: { roles: ROLES.metrics } }, async (req, reply) => {
    const text = (await backend.rpc("metrics", null, req.principal!)) as string;
    reply.type("text/plain; version=0.0.4; charset=utf-8");
    return text;
  });

  app.get("/healthz", async (_req, reply) => {
    reply.type("application/json");
    return '{"status":"ok"}';
  });

  app.get("/readyz", async (_req, reply) => {
    const not = backend.notReady();
    reply.code(not === null ? 200 : 503).type("application/json");
    return not === null ? '{"status":"ready"}' : errorBody(not.code, not.message);
  });

  const openapiText = JSON.stringify(OPENAPI);
  app.get("/openapi.json", async (_req, reply) => {
    reply.type("application/json");
    return openapiText;
  });
}
