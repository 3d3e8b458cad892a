// POST /v1/decide and /v1/decide/batch: bind the agent to the token, run the decide half of the
// pipeline (src/pipeline/decide.ts: one engine call for the request), hand the Decided to the
// primary, and answer once they are durable.

import type { FastifyInstance, FastifyRequest } from "fastify";
import { UNRECORDABLE_TEXT } from "../../audit/recordable.js";
import type { Decision } from "../../decision.js";
import type { GateMetrics } from "../../metrics/metrics.js";
import { decideMany } from "../../pipeline/decide.js";
import { bindingOf } from "../../pipeline/redeem.js";
import type { Redeemed } from "../../pipeline/redeem.js";
import { hasLoneSurrogate, recordableParsedText } from "../../audit/recordable.js";
import { redact } from "../../redact.js";
import type { Policy } from "../../policy.js";
import { allowed, ROLES } from "../access.js";
import type { AuditAck, Backend } from "../http.js";
import { MAX_PARAM_LENGTH } from "../constants.js";
import { RpcError } from "../ipc.js";
import { noteBatch, noteDecision } from "../tracing.js";
import { decideStateful, readKey } from "../stateful-decide.js";
import type { StatefulOutcome } from "../stateful-decide.js";
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
  const decideCounted = async (req: FastifyRequest, actions: Record<string, unknown>[], reads?: Map<string, number>[]) => {
    const who = req.principal!;
    for (const a of actions) bindAgent(a, who);
    const policy = backend.policy();
    (req as { body: unknown }).body = undefined;
    return { policy, outcomes: await decideStateful(backend, policy, actions, metrics, reads) };
  };

  /**
   * The shadow policy (docs/server.md, "Shadow") takes the same actions once the live answers are
   * durable, after the response is written (setImmediate): the candidate's evaluation, its own
   * counters, the comparison and the log line never delay a live answer.
   */
  const shadowAfter = (policy: Policy, actions: readonly Record<string, unknown>[], live: readonly Decision[], at: (i: number) => { seq: number; hash: string }): void => {
    const shadow = backend.shadow();
    if (shadow === null) return;
    setImmediate(() => shadow.report(policy, actions, live, shadow.decide(actions, live), at));
  };
  const shadowOutcomes = (policy: Policy, actions: readonly Record<string, unknown>[], outcomes: readonly StatefulOutcome[]): void => {
    if (backend.shadow() === null) return;
    shadowAfter(policy, actions, outcomes.map((o) => o.decision), (i) => ({ seq: outcomes[i]!.seq, hash: outcomes[i]!.hash }));
  };

  /** The explanation of a decision just recorded (`Policy.explain` records nothing); null for an
   *  action denied unevaluated (it cannot be recorded: no rule was looked at). */
  const explanation = (policy: Policy, action: Record<string, unknown>, d: Decision, reads: Map<string, number> | undefined): string => {
    if (d.error === UNRECORDABLE_TEXT) return "null";
    try {
      const e = reads === undefined ? policy.explain(action) : policy.explain(action, { sumOf: (counter, _key, keyText) => reads.get(readKey(counter, keyText)) });
      return JSON.stringify(e);
    } catch {
      return "null"; // the decision is recorded and answered; an explanation that cannot be made is absent
    }
  };
  const withExplanation = (text: string, e: string | null): string => (e === null ? text : `${text.slice(0, -1)},"explanation":${e}}`);

  /**
   * Redeems approval `id` for the action (docs/approvals.md, "Redeeming"): the agent bound to the
   * token, the digest of the action as sent, the claim and its record by the primary (which owns
   * approvals). Nothing is evaluated or counted. null for an action that cannot be recorded.
   */
  const redeem = async (req: FastifyRequest, action: Record<string, unknown>, id: string): Promise<string | null> => {
    const who = req.principal!;
    bindAgent(action, who);
    const policy = backend.policy();
    const redacted = redact(action, policy.redact);
    if (recordableParsedText(redacted) === null) return null;
    const [digest, agent] = bindingOf(action);
    const r = (await backend.rpc("approval-redeem", { id, digest, agent, action: redacted, policy: policy.name, policy_hash: policy.hash }, who)) as Redeemed;
    metrics.recordDecision(r.decision.policy, r.decision, 0);
    noteDecision(req, r.decision, r.policy_hash, r.hash, r.seq, r.decision.approval_id);
    return JSON.stringify({ ...r.decision, policy_hash: r.policy_hash, audit_id: r.hash, audit_seq: r.seq });
  };

  app.post("/v1/decide", {
    config: { roles: ROLES.decide },
    schema: {
      body: { type: "object", required: ["action"], additionalProperties: false, properties: { action: actionSchema, approval_id: { type: "string", minLength: 1, maxLength: MAX_PARAM_LENGTH } } },
      querystring: { type: "object", properties: { explain: { enum: ["0", "1", "false", "true"] } } },
    },
  }, async (req, reply) => {
    const q = (req.query ?? {}) as { explain?: string };
    const explain = q.explain === "1" || q.explain === "true";
    // Explanations show the policy's rules, operands and what each test saw: admins only. An
    // agent asking is refused before anything is decided (nothing is recorded).
    if (explain && !allowed(ROLES.explain, req.principal!)) {
      throw new RpcError(403, "forbidden", `role '${req.principal!.role}' may not ask for an explanation (?explain=1 is for admins: it shows the policy's rules and operands)`);
    }
    const { action, approval_id: approvalId } = req.body as { action: Record<string, unknown>; approval_id?: string };
    if (approvalId !== undefined) {
      // An id that is not Unicode text names no approval and cannot be recorded: the client's
      // mistake (400), not an audit log that failed (503).
      if (hasLoneSurrogate(approvalId)) {
        throw new RpcError(400, "invalid_request", "approval_id: contains a lone surrogate (\\ud800-\\udfff not in a pair), which is not Unicode text and names no approval");
      }
      const redeemed = await redeem(req, action, approvalId);
      if (redeemed !== null) {
        reply.type("application/json");
        return redeemed;
      }
      // An action that cannot be recorded: decided (denied unevaluated) as any such action.
    }
    if (backend.policy().stateful) {
      const reads: Map<string, number>[] | undefined = explain ? [] : undefined;
      const { policy, outcomes } = await decideCounted(req, [action], reads);
      const o = outcomes[0]!;
      reply.type("application/json");
      const text = responseText(o.decision, policy.hash, o.hash, o.seq, o.approval);
      noteDecision(req, o.decision, policy.hash, o.hash, o.seq, o.approval);
      shadowOutcomes(policy, [action], outcomes);
      return explain ? withExplanation(text, explanation(policy, action, o.decision, reads?.[0] ?? new Map())) : text;
    }
    const { policy, decisions, durable } = decide(req, [action]);
    const d = decisions[0]!;
    const ack = await durable;
    reply.type("application/json");
    const text = responseText(d, policy.hash, ack.hashes[0]!, ack.seq, ack.approvals[0] ?? null);
    noteDecision(req, d, policy.hash, ack.hashes[0]!, ack.seq, ack.approvals[0] ?? null);
    shadowAfter(policy, [action], decisions, () => ({ seq: ack.seq, hash: ack.hashes[0]! }));
    return explain ? withExplanation(text, explanation(policy, action, d, undefined)) : text;
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
      const actions = (req.body as { actions: Record<string, unknown>[] }).actions;
      const { policy, outcomes } = await decideCounted(req, actions);
      shadowOutcomes(policy, actions, outcomes);
      if (req.span !== null && outcomes.length > 0) noteBatch(req, outcomes.map((o) => o.decision), policy.hash, { id: outcomes[0]!.hash, seq: outcomes[0]!.seq }, { id: outcomes[outcomes.length - 1]!.hash, seq: outcomes[outcomes.length - 1]!.seq });
      reply.type("application/json");
      const parts = outcomes.map((o) => responseText(o.decision, policy.hash, o.hash, o.seq, o.approval));
      return `{"policy":${JSON.stringify(policy.name)},"policy_hash":"${policy.hash}","decisions":[${parts.join(",")}]}`;
    }
    const actions = (req.body as { actions: Record<string, unknown>[] }).actions;
    const { policy, decisions: ds, durable } = decide(req, actions);
    reply.type("application/json");
    if (ds.length === 0) return `{"policy":${JSON.stringify(policy.name)},"policy_hash":"${policy.hash}","decisions":[]}`;
    const ack = await durable;
    shadowAfter(policy, actions, ds, (i) => ({ seq: ack.seq + i, hash: ack.hashes[i]! }));
    if (req.span !== null) noteBatch(req, ds, policy.hash, { id: ack.hashes[0]!, seq: ack.seq }, { id: ack.hashes[ds.length - 1]!, seq: ack.seq + ds.length - 1 });
    const parts: string[] = new Array(ds.length);
    for (let i = 0; i < ds.length; i++) parts[i] = responseText(ds[i]!, policy.hash, ack.hashes[i]!, ack.seq + i, ack.approvals[i] ?? null);
    return `{"policy":${JSON.stringify(policy.name)},"policy_hash":"${policy.hash}","decisions":[${parts.join(",")}]}`;
  });
}
