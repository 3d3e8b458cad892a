// Approvals for escalate decisions (docs/approvals.md): the record and its typed errors.

import type { Decision } from "../decision.js";

export type ApprovalState = "pending" | "approved" | "denied" | "expired";

export const APPROVAL_STATES: readonly ApprovalState[] = ["pending", "approved", "denied", "expired"];

export interface Approval {
  /** crypto.randomUUID() */
  id: string;
  state: ApprovalState;
  /** decision.approver */
  approver: string;
  rule: string | null;
  policy: string;
  policy_hash: string;
  /** The action, already redacted by the caller. */
  action: unknown;
  /** The escalate decision. */
  decision: Decision;
  /** The audit record of the escalate decision. */
  decision_seq: number;
  decision_hash: string;
  on_timeout: "allow" | "deny";
  /** RFC 3339 UTC with milliseconds (toISOString). */
  created: string;
  expires: string;
  /** null while pending; approve → allow, deny → deny, expire → on_timeout. */
  outcome: "allow" | "deny" | null;
  resolved_by: string | null;
  note: string | null;
  resolved_at: string | null;
  /** The audit record of the transition, once written. */
  resolution_seq: number | null;
  resolution_hash: string | null;
  /**
   * SHA-256 (hex) of the RFC 8785 canonical JSON of the action exactly as the agent sent it
   * (after the server bound `agent.id` to the token; before redaction): redemption needs the
   * same action. null for an approval made before approvals were bound (it cannot be redeemed).
   */
  action_digest: string | null;
  /** The agent the approval was issued to (`action.agent.id`), null if the action named none. */
  agent: string | null;
  /** When the approval was redeemed (the one redemption it allows), null until then. */
  redeemed_at: string | null;
  /** The audit record of the redemption, once written. */
  redemption_seq: number | null;
  redemption_hash: string | null;
}

/**
 * Why a redemption was refused: the check that failed, in the order they are made.
 * `not-found`: no such approval; `agent`: issued to another agent; `pending`: not resolved yet;
 * `denied`: a human denied it; `expired`: it timed out (whatever its on_timeout); `redeemed`:
 * already redeemed once; `unbound`: made before approvals were bound to their action;
 * `digest`: the action is not the one that was approved.
 */
export type RedeemCheck = "not-found" | "agent" | "pending" | "denied" | "expired" | "redeemed" | "unbound" | "digest";

export const REDEEM_CHECKS: readonly RedeemCheck[] = ["not-found", "agent", "pending", "denied", "expired", "redeemed", "unbound", "digest"];

/** What redemption claims with: the digest of the action presented and who presents it. */
export interface RedeemClaim {
  digest: string;
  agent: string | null;
  at: string;
  /** Refuse (as pending) an approval whose transition has no audit record yet. */
  requireRecord?: boolean;
}

/** A claim's outcome: the approval claimed (now redeemed), or the failed check (with the approval, when there is one). */
export type ClaimResult = { ok: true; approval: Approval } | { ok: false; check: RedeemCheck; approval: Approval | undefined };

/**
 * `unavailable`: the audit log cannot take the transition's record now, so the approval was not
 * resolved (it stays pending); try again once the log is writable.
 */
export type ApprovalErrorCode = "not-found" | "already-resolved" | "invalid" | "closed" | "unavailable";

export class ApprovalError extends Error {
  constructor(
    readonly code: ApprovalErrorCode,
    readonly id: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ApprovalNotFound extends ApprovalError {
  constructor(id: string) {
    super("not-found", id, `approval ${id} not found`);
  }
}

/** A second resolution of the same approval; `approval` is the approval as it was resolved. */
export class ApprovalAlreadyResolved extends ApprovalError {
  readonly state: ApprovalState;
  constructor(readonly approval: Approval) {
    super("already-resolved", approval.id, alreadyResolvedMessage(approval));
    this.state = approval.state;
  }
}

function alreadyResolvedMessage(a: Approval): string {
  if (a.state === "expired") {
    return `approval ${a.id} already expired at ${a.resolved_at ?? a.expires} (on_timeout: ${a.outcome ?? a.on_timeout})`;
  }
  const note = a.note ? ` (note: ${a.note})` : "";
  return `approval ${a.id} was already ${a.state} by ${a.resolved_by ?? "unknown"} at ${a.resolved_at ?? "unknown time"}${note}`;
}
