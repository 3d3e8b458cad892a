// POST /v1/decide and /v1/decide/batch: bind the agent to the token, run the decide half of the
// pipeline (src/pipeline/decide.ts: one engine call for the request), hand the Decided to the
// primary, and answer once they are durable.

import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Decision } from "../../decision.js";
import type { GateMetrics } from "../../metrics/metrics.js";
import { decideMany } from "../../pipeline/decide.js";
import type { Policy } from "../../policy.js";
import { ROLES } from "../access.js";
import type { AuditAck, Backend } from "../http.js";
import { decideStateful } from "../stateful-decide.js";
import type { Principal } from "../tokens.js";

// Decision objects are frozen and shared: their JSON text is computed once.
const decisionJson = new WeakMap<Decision, string>();

function jsonOf(d: Decision): string {
  let s = decisionJson.get(d);
  if (s === undefined) {
    s = JSON.stringify(d);
    if (Object.isFrozen(d)) decisionJson.set(d, s);
  }
  return s;
}

/** The decision object of the response: the engine's fields plus policy_hash, audit_id, audit_seq[, approval_id]. */
export function responseText(d: Decision, policyHash: string, hash: string, seq: number, approval: string | null): string {
  const j = jsonOf(d);
  return `${j.slice(0, -1)},"policy_hash":"${policyHash}","audit_id":"${hash}","audit_seq":${seq}${approval === null ? "" : `,"approval_id":${JSON.stringify(approval)}`}}`;
}

/**
 * `action.agent.id` := the token's identity, whatever the body said (agents cannot impersonate).
 * The action is this request's own parsed body, so it is changed in place.
 */
export function bindAgent(action: Record<string, unknown>, who: Principal): Record<string, unknown> {
  if (who.role !== "agent") return action; // admins may decide on behalf of any agent
  const agent = action.agent;
  if (agent !== null && typeof agent === "object" && !Array.isArray(agent)) {
    (agent as Record<string, unknown>).id = who.identity;
  } else {
    action.agent = { id: who.identity };
  }
  return action;
}

const NOTHING_TO_AUDIT: Promise<AuditAck> = Promise.resolve({ seq: 0, hashes: [], approvals: [] });

export interface DecideRoutesOptions {
  backend: Backend;
  metrics: GateMetrics;
  /** Largest `actions` array of a batch. */
  maxBatch: number;
}

export async function decideRoutes(app: FastifyInstance, { backend, metrics, maxBatch }: DecideRoutesOptions): Promise<void> {
  const actionSchema = { type: "object" };
  const deciding = { metrics, parsed: true }; // request bodies come from JSON.parse

  /**
   * Binds the agent, decides (one Wasm crossing for the lot; counted), and hands the Decided to
   * the primary. Synchronous, so that while the handler awaits durability it holds only the
   * shared decision objects: the parsed body and the entries can be collected young.
   */
  const decide = (req: FastifyRequest, actions: Record<string, unknown>[]): { policy: Policy; decisions: readonly Decision[]; durable: Promise<AuditAck> } => {
    const who = req.principal!;
    for (const a of actions) bindAgent(a, who);
    const policy = backend.policy();
    const { decisions, entries } = decideMany(policy, actions, deciding);
    (req as { body: unknown }).body = undefined;
    return { policy, decisions, durable: entries.length === 0 ? NOTHING_TO_AUDIT : backend.audit(entries) };
  };

  /** A policy with counters: decided with the primary's sums, again if they changed meanwhile. */
  const decideCounted = async (req: FastifyRequest, actions: Record<string, unknown>[]) => {
    const who = req.principal!;
    for (const a of actions) bindAgent(a, who);
    const policy = backend.policy();
    (req as { body: unknown }).body = undefined;
    return { policy, outcomes: await decideStateful(backend, policy, actions, metrics) };
  };

  app.post("/v1/decide", {
    config: { roles: ROLES.decide },
    schema: { body: { type: "object", required: ["action"], additionalProperties: false, properties: { action: actionSchema } } },
  }, async (req, reply) => {
    if (backend.policy().stateful) {
      const { policy, outcomes } = await decideCounted(req, [(req.body as { action: Record<string, unknown> }).action]);
      const o = outcomes[0]!;
      reply.type("application/json");
      return responseText(o.decision, policy.hash, o.hash, o.seq, o.approval);
    }
    const { policy, decisions, durable } = decide(req, [(req.body as { action: Record<string, unknown> }).action]);
    const d = decisions[0]!;
    const ack = await durable;
    reply.type("application/json");
    return responseText(d, policy.hash, ack.hashes[0]!, ack.seq, ack.approvals[0] ?? null);
  });

  app.post("/v1/decide/batch", {
    config: { roles: ROLES.decide },
    schema: {
      body: {
        type: "object",
        required: ["actions"],
        additionalProperties: false,
        properties: { actions: { type: "array", maxItems: maxBatch, items: actionSchema } },
      },
    },
  }, async (req, reply) => {
    if (backend.policy().stateful) {
      const { policy, outcomes } = await decideCounted(req, (req.body as { actions: Record<string, unknown>[] }).actions);
      reply.type("application/json");
      const parts = outcomes.map((o) => responseText(o.decision, policy.hash, o.hash, o.seq, o.approval));
      return `{"policy":${JSON.stringify(policy.name)},"policy_hash":"${policy.hash}","decisions":[${parts.join(",")}]}`;
    }
    const { policy, decisions: ds, durable } = decide(req, (req.body as { actions: Record<string, unknown>[] }).actions);
    reply.type("application/json");
    if (ds.length === 0) return `{"policy":${JSON.stringify(policy.name)},"policy_hash":"${policy.hash}","decisions":[]}`;
    const ack = await durable;
    const parts: string[] = new Array(ds.length);
    for (let i = 0; i < ds.length; i++) parts[i] = responseText(ds[i]!, policy.hash, ack.hashes[i]!, ack.seq + i, ack.approvals[i] ?? null);
    return `{"policy":${JSON.stringify(policy.name)},"policy_hash":"${policy.hash}","decisions":[${parts.join(",")}]}`;
  });
}
