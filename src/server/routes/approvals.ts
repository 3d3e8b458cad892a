// /v1/approvals: list, get, long-poll, approve and deny. The store is the primary's (reached by
// RPC); who may see or resolve which approval is decided there, by the rules of access.ts.

import type { FastifyInstance } from "fastify";
import { hasLoneSurrogate } from "../../audit/recordable.js";
import { ROLES } from "../access.js";
import { parseDuration } from "../../duration.js";
import { MAX_PARAM_LENGTH } from "../constants.js";
import type { Backend } from "../http.js";
import { RpcError } from "../ipc.js";

export interface ApprovalRoutesOptions {
  backend: Backend;
  /** The longest long poll (ms). */
  maxWaitMs: number;
}

export async function approvalRoutes(app: FastifyInstance, { backend, maxWaitMs }: ApprovalRoutesOptions): Promise<void> {
  const idParams = { type: "object", required: ["id"], properties: { id: { type: "string", minLength: 1, maxLength: MAX_PARAM_LENGTH } } };

  app.get("/v1/approvals", {
    config: { roles: ROLES["approval-list"] },
    schema: {
      querystring: {
        type: "object",
        additionalProperties: false,
        properties: {
          state: { type: "string", enum: ["pending", "approved", "denied", "expired"] },
          approver: { type: "string", maxLength: 200 },
          limit: { type: "string", pattern: "^[0-9]{1,5}$" },
        },
      },
    },
  }, async (req, reply) => {
    const q = req.query as { state?: string; approver?: string; limit?: string };
    const limit = Math.min(10_000, Math.max(1, q.limit === undefined ? 1000 : Number(q.limit)));
    const r = await backend.rpc("approval-list", { state: q.state, approver: q.approver, limit }, req.principal!);
    reply.type("application/json");
    return JSON.stringify({ approvals: r });
  });

  app.get("/v1/approvals/:id", { config: { roles: ROLES["approval-get"] }, schema: { params: idParams } }, async (req, reply) => {
    const r = await backend.rpc("approval-get", { id: (req.params as { id: string }).id }, req.principal!);
    reply.type("application/json");
    return JSON.stringify(r);
  });

  app.get("/v1/approvals/:id/records", { config: { roles: ROLES["approval-records"] }, schema: { params: idParams } }, async (req, reply) => {
    const r = await backend.rpc("approval-records", { id: (req.params as { id: string }).id }, req.principal!);
    reply.type("application/json");
    return JSON.stringify({ records: r });
  });

  app.get("/v1/approvals/:id/wait", {
    config: { roles: ROLES["approval-wait"] },
    schema: { params: idParams, querystring: { type: "object", additionalProperties: false, properties: { timeout: { type: "string", maxLength: 32 } } } },
  }, async (req, reply) => {
    const q = req.query as { timeout?: string };
    let timeoutMs = 30_000;
    if (q.timeout !== undefined) {
      // A bare number is seconds here (`?timeout=30` = `?timeout=30s`).
      const ms = /^\d+(\.\d+)?$/.test(q.timeout) ? Number(q.timeout) * 1000 : parseDuration(q.timeout);
      if (ms === null || !Number.isFinite(ms)) throw new RpcError(400, "invalid_request", "timeout: expected a duration like 30s, 500ms or 2m");
      timeoutMs = ms;
    }
    timeoutMs = Math.min(timeoutMs, maxWaitMs);
    const r = await backend.rpc("approval-wait", { id: (req.params as { id: string }).id, timeoutMs }, req.principal!);
    reply.type("application/json");
    return JSON.stringify(r);
  });

  for (const verb of ["approve", "deny"] as const) {
    app.post(`/v1/approvals/:id/${verb}`, { config: { roles: ROLES["approval-resolve"] }, schema: { params: idParams } }, async (req, reply) => {
      // The body is optional (`curl -X POST` sends none), so it is checked here rather than by a schema.
      const body = (req.body ?? {}) as { note?: unknown };
      if (typeof body !== "object" || Array.isArray(body) || Object.keys(body).some((k) => k !== "note") || (body.note !== undefined && (typeof body.note !== "string" || body.note.length > 10_000))) {
        throw new RpcError(400, "invalid_request", "the body, if any, must be {\"note\": \"...\"} (a string of at most 10000 characters)");
      }
      if (typeof body.note === "string" && hasLoneSurrogate(body.note)) {
        // It would be stored as U+FFFD: the record would not say what the approver wrote.
        throw new RpcError(400, "invalid_request", "note: contains a lone surrogate (\\ud800-\\udfff not in a pair), which is not Unicode text and cannot be stored or recorded as it is");
      }
      const r = await backend.rpc("approval-resolve", { id: (req.params as { id: string }).id, verb, note: (body.note as string | undefined) ?? null }, req.principal!);
      reply.type("application/json");
      return JSON.stringify(r);
    });
  }
}
