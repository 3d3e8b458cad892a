// GET /v1/policy (what is served) and PUT /v1/policy (validated and installed by the primary,
// policy-sync.ts). PUT lives in a scope of its own: the only one that reads YAML (or text/plain)
// bodies and the only one with the 16 MiB limit. Elsewhere those content types are refused with
// 415 before the body is read, and every body is held to `body-limit`.

import type { FastifyInstance } from "fastify";
import { ROLES } from "../access.js";
import { MAX_POLICY_BYTES, POLICY_BODY, YAML_TYPES } from "../constants.js";
import type { Backend } from "../http.js";
import { RpcError } from "../ipc.js";
import { policyText } from "../../policy-text.js";
import { rpcErrorOf } from "../rpc.js";

export async function policyRoutes(app: FastifyInstance, { backend }: { backend: Backend }): Promise<void> {
  app.get("/v1/policy", { config: { roles: ROLES["policy-get"] } }, async (_req, reply) => {
    const p = backend.policy();
    reply.type("application/json");
    return JSON.stringify({ policy: p.name, policy_hash: p.hash, rules: p.rules.length });
  });

  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    // Read as bytes and decoded strictly: a byte that is not UTF-8 is a policy error at its
    // position (422), never a U+FFFD in a rule (src/policy-text.ts).
    scope.addContentTypeParser(YAML_TYPES, { parseAs: "buffer", bodyLimit: MAX_POLICY_BYTES }, (req, body, done) => {
      try {
        done(null, policyText(body as Buffer, req.url.startsWith("/v1/policy/shadow") ? "<PUT /v1/policy/shadow>" : "<PUT /v1/policy>"));
      } catch (err) {
        done(rpcErrorOf(err), undefined);
      }
    });
    scope.put("/v1/policy", { config: { roles: ROLES["put-policy"] }, bodyLimit: MAX_POLICY_BYTES }, async (req, reply) => {
      if (req.body !== undefined && typeof req.body !== "string") {
        throw new RpcError(415, "unsupported_media_type", POLICY_BODY);
      }
      if (typeof req.body !== "string" || req.body.trim() === "") {
        throw new RpcError(400, "bad_request", POLICY_BODY);
      }
      const r = await backend.rpc("put-policy", { yaml: req.body }, req.principal!);
      reply.type("application/json");
      return JSON.stringify(r);
    });
    // The shadow (candidate) policy (docs/server.md, "Shadow"): the same YAML body as PUT /v1/policy.
    scope.put("/v1/policy/shadow", { config: { roles: ROLES["put-shadow"] }, bodyLimit: MAX_POLICY_BYTES }, async (req, reply) => {
      if (req.body !== undefined && typeof req.body !== "string") {
        throw new RpcError(415, "unsupported_media_type", POLICY_BODY);
      }
      if (typeof req.body !== "string" || req.body.trim() === "") {
        throw new RpcError(400, "bad_request", POLICY_BODY);
      }
      const r = await backend.rpc("put-shadow", { yaml: req.body }, req.principal!);
      reply.type("application/json");
      return JSON.stringify(r);
    });
  });

  app.get("/v1/policy/shadow", { config: { roles: ROLES["get-shadow"] } }, async (req, reply) => {
    const r = await backend.rpc("get-shadow", null, req.principal!);
    reply.type("application/json");
    return JSON.stringify(r);
  });

  app.delete("/v1/policy/shadow", { config: { roles: ROLES["delete-shadow"] } }, async (req, reply) => {
    const r = await backend.rpc("delete-shadow", null, req.principal!);
    reply.type("application/json");
    return JSON.stringify(r);
  });
}
