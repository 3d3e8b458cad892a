// Action-bound, single-use approvals (docs/approvals.md, "Redeeming"): what an escalation's
// approval is bound to, and the audit record of a redemption — allowed (the approval's one
// redemption) or denied (the check that failed) — linked to the approval's records. The claim
// itself is one SQLite transaction (ApprovalStore#claim); Recorder#redeem writes the record.

import type { Approval, ClaimResult, RedeemCheck } from "../approvals/approval.js";
import type { AuditEntry } from "../audit/format.js";
import { canonicalJson, sha256Hex } from "../canonical.js";
import type { Decision } from "../decision.js";
import type { Binding, Decided } from "./message.js";

/**
 * The SHA-256 (hex) of the RFC 8785 canonical JSON of `action` — as the agent sent it, not
 * redacted — and the agent it names (`action.agent.id`: a string, else its canonical JSON, else null).
 */
export function bindingOf(action: unknown): Binding {
  return [sha256Hex(canonicalJson(action)), agentOf(action)];
}

export function agentOf(action: unknown): string | null {
  if (action === null || typeof action !== "object" || Array.isArray(action)) return null;
  const agent = (action as Record<string, unknown>).agent;
  if (agent === null || typeof agent !== "object" || Array.isArray(agent)) return null;
  const id = (agent as Record<string, unknown>).id;
  if (id === undefined || id === null) return null;
  return typeof id === "string" ? id : canonicalJson(id);
}

/** Binds an escalation's Decided to its action (its 7th element); the approval stores it. */
export function bindEscalation(entry: Decided, action: unknown): void {
  let binding: Binding;
  try {
    binding = bindingOf(action);
  } catch {
    return; // no canonical JSON (it was recorded as "[not JSON]"): an approval that cannot be redeemed
  }
  if (entry.length < 6) entry[5] = undefined;
  entry[6] = binding;
}

/** What a redemption asks: the approval, the action's binding and the redacted action for the record. */
export interface RedeemRequest {
  id: string;
  digest: string;
  agent: string | null;
  /** The action as presented, with the current policy's `audit.redact` paths redacted: the record's action. */
  action: unknown;
  /** The current policy: the record's policy when there is no approval to take it from. */
  policy: string;
  policy_hash: string;
}

/** How a redemption record links to the approval (spec 4: "more fields may be added"). */
export interface RedemptionLink {
  approval_id: string;
  /** The check that failed; null when redeemed. */
  check: RedeemCheck | null;
  /** The escalate decision's record and the approval transition's (null when there is none). */
  decision_seq: number | null;
  decision_hash: string | null;
  resolution_seq: number | null;
  resolution_hash: string | null;
}

export type RedemptionDecision = Decision & {
  readonly approval_id: string;
  /** Allowed only: who approved it. */
  readonly approved_by?: string;
  readonly redemption: RedemptionLink;
};

export interface Redeemed {
  decision: RedemptionDecision;
  policy_hash: string;
  seq: number;
  hash: string;
}

/** The reason of a refused redemption: which check failed. */
export function refusalReason(check: RedeemCheck, id: string, a: Approval | undefined): string {
  switch (check) {
    case "not-found":
      return `approval ${id} not found`;
    case "agent":
      return `approval ${id} was not issued to this agent`;
    case "pending":
      return `approval ${id} is not approved yet (pending)`;
    case "denied":
      return `approval ${id} was denied${a?.resolved_by ? ` by ${a.resolved_by}` : ""}`;
    case "expired":
      return `approval ${id} expired at ${a?.expires ?? "its expiry"}`;
    case "redeemed":
      return `approval ${id} was already redeemed at ${a?.redeemed_at ?? "an earlier time"}`;
    case "unbound":
      return `approval ${id} is not bound to an action (it was made before approvals were bound) and cannot be redeemed`;
    case "digest":
      return `the action is not the one approval ${id} approved (its SHA-256 differs)`;
  }
}

/**
 * The record of a redemption. Allowed: the escalating rule's allow (its reason, `approval_id`,
 * `approved_by`), under the approval's policy and hash. Refused: deny with the failed check's
 * reason and rule null. Either way `redemption` links the approval's records; nothing is counted
 * (the approval's pending contribution, settled by the approval, is the action's only one), and
 * nothing was evaluated, so `eval_ns` is 0.
 */
export function redemptionEntry(r: ClaimResult, req: RedeemRequest): AuditEntry {
  // Another agent's approval: the refusal tells it (and records) nothing about it, as if not found.
  const a = !r.ok && r.check === "agent" ? undefined : r.approval;
  const redemption: RedemptionLink = {
    approval_id: req.id,
    check: r.ok ? null : r.check,
    decision_seq: a?.decision_seq ?? null,
    decision_hash: a?.decision_hash ?? null,
    resolution_seq: a?.resolution_seq ?? null,
    resolution_hash: a?.resolution_hash ?? null,
  };
  const policy = a?.policy ?? req.policy;
  const policy_hash = a?.policy_hash ?? req.policy_hash;
  let decision: RedemptionDecision;
  if (r.ok) {
    decision = {
      decision: "allow",
      rule: r.approval.rule,
      reason: r.approval.decision.reason,
      undetermined: false,
      policy,
      approval_id: req.id,
      approved_by: r.approval.resolved_by ?? "",
      redemption,
    };
  } else {
    decision = { decision: "deny", rule: null, reason: refusalReason(r.check, req.id, a), undetermined: false, policy, approval_id: req.id, redemption };
  }
  return { decision, action: req.action, policy, policy_hash, eval_ns: 0 };
}
