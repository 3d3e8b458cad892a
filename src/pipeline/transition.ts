// The audit record of an approval's transition (approved, denied, expired), linked to the
// record of the escalate decision it resolves: part of the record half (record.ts).

import type { Approval } from "../approvals/approval.js";
import type { AuditEntry } from "../audit/format.js";
import type { Decision } from "../decision.js";

/** What an approval transition adds to the decision object (spec 4: "more fields may be added"). */
export interface ApprovalLink {
  id: string;
  state: Approval["state"];
  by: string | null;
  note: string | null;
  decision_seq: number;
  decision_hash: string;
}

export type TransitionDecision = Decision & { readonly approval: ApprovalLink };

/**
 * The record of a resolved approval: the escalate decision turned into its outcome (allow or
 * deny; `approver`, `timeout_ms` and `on_timeout` go, as they belong to escalate decisions only,
 * and `counted`: what the escalation counted is in its own record, not counted twice),
 * plus `approval` naming the transition and the decision record it resolves. The action is the
 * one the approval keeps, already redacted; nothing was evaluated, so `eval_ns` is 0.
 */
export function transitionEntry(approval: Approval): AuditEntry {
  if (approval.state === "pending" || approval.outcome === null) throw new TypeError(`approval ${approval.id} is still pending`);
  const { approver: _a, timeout_ms: _t, on_timeout: _o, counted: _c, ...rest } = approval.decision as Approval["decision"] & { counted?: unknown };
  const decision: TransitionDecision = {
    ...rest,
    decision: approval.outcome,
    approval: {
      id: approval.id,
      state: approval.state,
      by: approval.resolved_by,
      note: approval.note,
      decision_seq: approval.decision_seq,
      decision_hash: approval.decision_hash,
    },
  };
  return { decision, action: approval.action, policy: approval.policy, policy_hash: approval.policy_hash, eval_ns: 0 };
}
