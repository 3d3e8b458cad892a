// ActionDenied: what `Gate.enforce` throws when an action may not run.

import type { Approval } from "../approvals/approval.js";
import type { GateDecision } from "./gate-decision.js";

export class ActionDenied extends Error {
  override readonly name = "ActionDenied";

  constructor(
    /** The decision (deny, or the escalate decision a human or the timeout refused). */
    readonly decision: GateDecision,
    /** For an escalation: the resolved approval (state denied, or expired with on_timeout deny). */
    readonly approval?: Approval,
  ) {
    super(ActionDenied.describe(decision, approval));
  }

  private static describe(d: GateDecision, a: Approval | undefined): string {
    if (d.redemption !== undefined) return `approval ${d.redemption.approval_id} was not redeemed (${d.redemption.check ?? "?"}): ${d.reason ?? ""}`;
    const rule = d.rule === null ? "the policy's default" : `rule '${d.rule}'`;
    if (a === undefined) return `action denied by ${rule}${d.reason ? `: ${d.reason}` : ""}`;
    if (a.state === "expired") return `approval ${a.id} (${rule}) expired without an answer; on_timeout is deny`;
    return `approval ${a.id} (${rule}) was denied by ${a.resolved_by ?? "an approver"}${a.note ? `: ${a.note}` : ""}`;
  }
}
