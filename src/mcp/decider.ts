// Who decides a call: the Gate in this process (embedded) or `tollgate serve` (control-plane.ts).
// Both record every decision before answering; a decider that cannot decide rejects, and the
// call is then refused (enforce.ts), never forwarded.

import type { Decision } from "../decision.js";
import { Gate } from "../gate/gate.js";
import type { McpAction } from "./action.js";
import type { McpLog } from "./log.js";

/** A decision as recorded: the spec's object plus where it is in the audit log. */
export type CallDecision = Decision & {
  readonly audit_id?: string;
  readonly audit_seq?: number;
  readonly approval_id?: string;
  readonly expires?: string;
};

/** An approval as the waiting call sees it. */
export interface ApprovalStatus {
  id: string;
  state: "pending" | "approved" | "denied" | "expired";
  outcome: "allow" | "deny" | null;
  resolved_by: string | null;
  note: string | null;
  expires: string;
}

export interface Decider {
  readonly mode: "embedded" | "control-plane";
  /** Decides and records; rejects when it cannot (the call must then not run). With
   *  `approvalId`, redeems that approval for the action instead (bound to it, used once). */
  decide(action: McpAction, approvalId?: string): Promise<CallDecision>;
  /** Waits up to `timeoutMs` for the approval to be resolved; answers it, pending or not. */
  wait(approvalId: string, options: { signal: AbortSignal; timeoutMs: number }): Promise<ApprovalStatus>;
  /** Whether the policy denies this argument-less action by a rule that holds without its
   *  arguments (hide_denied); false when unknown. Reads counters as empty and records nothing. */
  deniedWhateverArgs(probe: unknown): boolean;
  close(): Promise<void>;
}

export class EmbeddedDecider implements Decider {
  readonly mode = "embedded";

  private constructor(readonly gate: Gate) {}

  static async open(options: { policy: string; auditDir: string; approvals: string }, log: McpLog): Promise<EmbeddedDecider> {
    const gate = await Gate.open({
      policy: options.policy,
      auditDir: options.auditDir,
      approvals: options.approvals,
      onError: (err) => log.error("gate", { error: err.message }),
    });
    return new EmbeddedDecider(gate);
  }

  decide(action: McpAction, approvalId?: string): Promise<CallDecision> {
    return this.gate.check(action, approvalId === undefined ? {} : { approvalId });
  }

  async wait(approvalId: string, options: { signal: AbortSignal; timeoutMs: number }): Promise<ApprovalStatus> {
    const a = await this.gate.approvals.wait(approvalId, options);
    return { id: a.id, state: a.state, outcome: a.outcome, resolved_by: a.resolved_by, note: a.note, expires: a.expires };
  }

  deniedWhateverArgs(probe: unknown): boolean {
    try {
      // decideWithCounters records nothing; empty windows keep a limit that is reached now from
      // hiding a tool for good.
      const { decision } = this.gate.policy.decideWithCounters(probe, () => 0);
      return decision.decision === "deny" && decision.rule !== null && !decision.undetermined && decision.error === undefined;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    return this.gate.close();
  }
}
